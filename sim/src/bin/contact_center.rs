//! `contact_center`: simulate a contact centre on the chatio engine, compare routers, size a
//! team. See `docs/simulator.md`.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use chatio_sim::sizing::{self, Goal, Sizing};
use chatio_sim::{
    Distribution, Progress, Report, Scenario, SimError, Simulation, Team, office_day_profile, plot,
};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser, Debug)]
#[command(
    name = "contact_center",
    about = "A contact-centre simulator on the chatio engine, checked against queueing theory",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a scenario with one router; writes report.json and three SVG plots.
    Run {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// automatic, manual, least_loaded or round_robin.
        #[arg(long, default_value = "automatic")]
        router: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Simulate the same customers with several routers; one report each, shared plots.
    Compare {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// Comma-separated router names.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "automatic,least_loaded,round_robin"
        )]
        routers: Vec<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Find the smallest first team that meets a service-level target; writes sizing.json
    /// and sizing.svg.
    Size {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// automatic, manual, least_loaded or round_robin.
        #[arg(long, default_value = "automatic")]
        router: String,
        /// The share of chats to answer within --within seconds (0 to 1).
        #[arg(long, default_value_t = 0.8)]
        target: f64,
        /// At most this share of customers may give up (0 to 1).
        #[arg(long)]
        max_abandonment: Option<f64>,
        /// The smallest team size to try.
        #[arg(long, default_value_t = 1)]
        min: u32,
        /// The largest team size to try (default: twice the offered load per slot, plus 10).
        #[arg(long)]
        max: Option<u32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print the scenario the options describe, as JSON: a start for a --scenario file.
    Scenario {
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
}

#[derive(Args, Debug)]
struct ScenarioArgs {
    /// Start from this scenario file (JSON); the options below change it.
    #[arg(long, conflicts_with = "preset")]
    scenario: Option<PathBuf>,
    /// Start from a built-in scenario: `centre500` (a day of a 500-agent centre, about
    /// 100 000 chats) or `erlang` (one team, constant rate; the default).
    #[arg(long)]
    preset: Option<String>,
    /// Agents, in a single team (replaces the scenario's teams).
    #[arg(long)]
    agents: Option<u32>,
    /// Chats each agent may have at once (every team).
    #[arg(long)]
    slots: Option<u32>,
    /// Mean arrivals per hour.
    #[arg(long)]
    rate: Option<f64>,
    /// Hour-of-day profile: `flat`, `office`, or 24 comma-separated weights.
    #[arg(long)]
    profile: Option<String>,
    /// Handling time: exp:MEAN, lognormal:MEAN:CV or fixed:VALUE (seconds).
    #[arg(long)]
    handle: Option<String>,
    /// Patience before giving up, as --handle; `none`: customers never give up.
    #[arg(long)]
    patience: Option<String>,
    /// Hours of arrivals.
    #[arg(long)]
    hours: Option<f64>,
    /// Hours at the start left out of the figures.
    #[arg(long)]
    warmup: Option<f64>,
    /// The service level's threshold, in seconds.
    #[arg(long)]
    within: Option<f64>,
    /// Mean seconds between two messages of a chat.
    #[arg(long)]
    message_gap: Option<f64>,
    /// Seed of every random draw.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args, Debug)]
struct OutputArgs {
    /// Where to write the report and plots (created if missing).
    #[arg(long, default_value = "contact-center-report")]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

type Fallible<T> = Result<T, String>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> Fallible<()> {
    match command {
        Command::Run {
            scenario,
            router,
            output,
        } => {
            let scenario = scenario.build()?;
            prepare(&output.out)?;
            let report = simulate(&scenario, &router, &output)?;
            summary(&[&report]);
            save_json(&output.out.join("report.json"), &report)?;
            plots(&output.out, &[&report])
        }
        Command::Compare {
            scenario,
            routers,
            output,
        } => {
            let scenario = scenario.build()?;
            if routers.is_empty() {
                return Err("name at least one router".into());
            }
            prepare(&output.out)?;
            let mut reports = Vec::new();
            for router in &routers {
                let report = simulate(&scenario, router, &output)?;
                save_json(&output.out.join(format!("report-{router}.json")), &report)?;
                reports.push(report);
            }
            let refs: Vec<&Report> = reports.iter().collect();
            summary(&refs);
            plots(&output.out, &refs)
        }
        Command::Size {
            scenario,
            router,
            target,
            max_abandonment,
            min,
            max,
            output,
        } => {
            let mut scenario = scenario.build()?;
            scenario.validate().map_err(|e| e.to_string())?;
            let router_impl = chatio::routing::builtin_router(&router)
                .ok_or_else(|| SimError::UnknownRouter(router.clone()).to_string())?;
            let slots = f64::from(scenario.teams[0].max_chats);
            let max =
                max.unwrap_or_else(|| (2.0 * scenario.offered_load() / slots).ceil() as u32 + 10);
            let goal = Goal {
                service_level: target,
                within_seconds: scenario.service_level_seconds,
                max_abandonment,
            };
            scenario.service_level_seconds = goal.within_seconds;
            prepare(&output.out)?;
            let bar = bar(&output, &scenario, "sizing");
            let started = Instant::now();
            let result = sizing::size(&scenario, router_impl, &goal, min..=max, &mut |n, p| {
                bar.set_message(format!("{n} agents"));
                bar.set_position((100.0 * p.hours_done / p.hours_total) as u64);
            })
            .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            sizing_summary(&result, started.elapsed().as_secs_f64());
            save_json(&output.out.join("sizing.json"), &result)?;
            let svg = plot::sizing(&result).map_err(|e| e.to_string())?;
            write_svg(&output.out.join("sizing.svg"), &svg)
        }
        Command::Scenario { scenario } => {
            println!("{}", scenario.build()?.to_json());
            Ok(())
        }
    }
}

impl ScenarioArgs {
    fn build(&self) -> Fallible<Scenario> {
        let mut s = match (&self.scenario, self.preset.as_deref()) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Scenario::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            (None, Some("centre500")) => Scenario::centre_500(),
            (None, None | Some("erlang")) => {
                let mut s = Scenario::erlang(10, 100.0, 300.0);
                s.hours = 24.0;
                s.warmup_hours = 1.0;
                s
            }
            (None, Some(other)) => {
                return Err(format!("unknown preset `{other}`: centre500 or erlang"));
            }
        };
        if let Some(n) = self.agents {
            let max_chats = s.teams.first().map_or(1, |t| t.max_chats);
            s.teams = vec![Team {
                name: "agents".into(),
                agents: n,
                max_chats,
                groups: Vec::new(),
                shift: None,
                breaks: Vec::new(),
            }];
        }
        if let Some(k) = self.slots {
            for t in &mut s.teams {
                t.max_chats = k;
            }
        }
        if let Some(r) = self.rate {
            s.arrivals.rate_per_hour = r;
        }
        if let Some(p) = &self.profile {
            s.arrivals.profile = match p.as_str() {
                "flat" => None,
                "office" => Some(office_day_profile()),
                weights => Some(
                    weights
                        .split(',')
                        .map(|w| w.trim().parse::<f64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| {
                            format!("--profile: `{p}` is not flat, office nor 24 numbers")
                        })?,
                ),
            };
        }
        if let Some(h) = &self.handle {
            s.handling.duration = h
                .parse::<Distribution>()
                .map_err(|e| format!("--handle: {e}"))?;
        }
        if let Some(p) = &self.patience {
            s.patience = match p.as_str() {
                "none" => None,
                d => Some(
                    d.parse::<Distribution>()
                        .map_err(|e| format!("--patience: {e}"))?,
                ),
            };
        }
        if let Some(h) = self.hours {
            s.hours = h;
            // A warm-up as long as the whole run makes no sense; keep it within.
            if s.warmup_hours >= h {
                s.warmup_hours = 0.0;
            }
        }
        if let Some(w) = self.warmup {
            s.warmup_hours = w;
        }
        if let Some(t) = self.within {
            s.service_level_seconds = t;
        }
        if let Some(g) = self.message_gap {
            s.handling.message_gap_seconds = g;
        }
        if let Some(seed) = self.seed {
            s.seed = seed;
        }
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }
}

fn prepare(dir: &Path) -> Fallible<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn bar(output: &OutputArgs, scenario: &Scenario, what: &str) -> ProgressBar {
    // Short runs finish before a bar would help.
    let chats = scenario.arrivals.rate_per_hour * scenario.hours;
    if output.quiet || chats < 20_000.0 && what != "sizing" {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(100);
    let style = ProgressStyle::with_template("{prefix} [{bar:40}] {pos}% of simulated time {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_owned());
    bar
}

fn simulate(scenario: &Scenario, router: &str, output: &OutputArgs) -> Fallible<Report> {
    let sim = Simulation::builtin(scenario.clone(), router).map_err(|e| e.to_string())?;
    let bar = bar(output, scenario, router);
    let started = Instant::now();
    let report = sim
        .run_with_progress(&mut |p: Progress| {
            bar.set_position((100.0 * p.hours_done / p.hours_total) as u64);
            bar.set_message(format!("({} chats)", p.chats));
        })
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    eprintln!(
        "{router}: {} chats, {} engine events, {} calls in {:.2} s",
        report.engine.chats,
        report.engine.events,
        report.engine.calls,
        started.elapsed().as_secs_f64()
    );
    Ok(report)
}

fn save_json<T: serde::Serialize>(path: &Path, value: &T) -> Fallible<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn write_svg(path: &Path, svg: &str) -> Fallible<()> {
    plot::write(path, svg).map_err(|e| e.to_string())?;
    println!("wrote {}", path.display());
    Ok(())
}

fn plots(dir: &Path, reports: &[&Report]) -> Fallible<()> {
    let queue = plot::queue_over_time(reports).map_err(|e| e.to_string())?;
    write_svg(&dir.join("queue.svg"), &queue)?;
    let sl = plot::service_level_over_time(reports, None).map_err(|e| e.to_string())?;
    write_svg(&dir.join("service_level.svg"), &sl)?;
    let waits = plot::wait_distribution(reports).map_err(|e| e.to_string())?;
    write_svg(&dir.join("waits.svg"), &waits)
}

fn summary(reports: &[&Report]) {
    let Some(first) = reports.first() else {
        return;
    };
    println!(
        "{:<13} {:>8} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10}",
        "router",
        "chats",
        format!("SL {}s", first.service_level_seconds),
        "ASA s",
        "p90 s",
        "p99 s",
        "abandon",
        "occupancy",
        "load cv"
    );
    for r in reports {
        println!(
            "{:<13} {:>8} {:>9.1}% {:>8.1} {:>8.1} {:>8.1} {:>8.2}% {:>8.1}% {:>10.3}",
            r.router,
            r.chats.offered,
            100.0 * r.service_level,
            r.asa_seconds,
            r.waits.p90,
            r.waits.p99,
            100.0 * r.abandonment_rate,
            100.0 * r.occupancy,
            r.agents.mean_load_cv
        );
    }
}

fn sizing_summary(s: &Sizing, seconds: f64) {
    println!(
        "{:>7} {:>16} {:>10} {:>8} {:>9} {:>6}",
        "agents", "simulated SL", "theory", "abandon", "occupancy", "meets"
    );
    for p in &s.points {
        println!(
            "{:>7} {:>8.1}% ± {:>4.1} {:>10} {:>7.2}% {:>8.1}% {:>6}",
            p.agents,
            100.0 * p.service_level.mean,
            100.0 * p.service_level.half_width_95,
            p.theory
                .map_or("-".to_owned(), |t| format!("{:.1}%", 100.0 * t)),
            100.0 * p.abandonment_rate,
            100.0 * p.occupancy,
            if p.meets { "yes" } else { "no" }
        );
    }
    match s.agents {
        Some(n) => println!(
            "smallest team meeting {:.0} % within {} s: {n} agents{} ({:.1} s)",
            100.0 * s.goal.service_level,
            s.goal.within_seconds,
            match (&s.theory_name, s.theory_agents) {
                (Some(name), Some(t)) => format!(" ({name}: {t})"),
                _ => String::new(),
            },
            seconds
        ),
        None => println!("no team size in the range meets the goal"),
    }
}
