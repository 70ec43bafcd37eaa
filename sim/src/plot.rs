//! SVG plots of reports, through `plotters` (its SVG backend only: no fonts, no native
//! libraries). Each function returns the SVG text; [`write()`] puts it in a file.
//!
//! Several reports in one plot (one per router, from `compare`) are drawn as one line each.
//!
//! ```
//! use chatio_sim::{Scenario, Simulation, plot};
//! let mut s = Scenario::erlang(4, 40.0, 300.0);
//! s.hours = 6.0;
//! let report = Simulation::builtin(s, "automatic")?.run()?;
//! let svg = plot::queue_over_time(&[&report])?;
//! assert!(svg.starts_with("<svg") && svg.contains("chats waiting"));
//! # Ok::<(), chatio_sim::SimError>(())
//! ```

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::sizing::Sizing;
use crate::{Report, SimError};

const SIZE: (u32, u32) = (960, 540);

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn err(what: &str) -> impl Fn(String) -> SimError + '_ {
    move |reason| SimError::Plot {
        path: what.to_owned(),
        reason,
    }
}

/// Runs a drawing on an SVG canvas and returns the text; plotters' errors become
/// [`SimError::Plot`] naming the plot.
fn svg(
    what: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, SimError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(what)(e.to_string()))?;
        draw(&root).map_err(err(what))?;
        root.present().map_err(|e| err(what)(e.to_string()))?;
    }
    Ok(out)
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// A label for a report in a legend: its router, and the share answered within the
/// threshold.
fn legend(r: &Report) -> String {
    format!("{} (SL {:.1} %)", r.router, 100.0 * r.service_level)
}

/// Writes a plot to a file.
pub fn write(path: &std::path::Path, svg: &str) -> Result<(), SimError> {
    std::fs::write(path, svg).map_err(|e| SimError::Plot {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Mean number of chats waiting, per bin of the run, one line per report (with the longest
/// queue of each bin, lighter, when there is one report).
pub fn queue_over_time(reports: &[&Report]) -> Result<String, SimError> {
    svg("the queue plot", |root| {
        let hours = reports
            .iter()
            .map(|r| r.simulated_hours)
            .fold(1.0, f64::max);
        let single = reports.len() == 1;
        let top = reports
            .iter()
            .flat_map(|r| {
                let maxima = r
                    .queue
                    .max
                    .iter()
                    .map(|&m| if single { f64::from(m) } else { 0.0 });
                r.queue.mean.iter().copied().chain(maxima)
            })
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption("Chats waiting for an agent", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..hours, 0.0..top * 1.08)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc("hour of the run")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("chats waiting")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(s)?;
        for (i, r) in reports.iter().enumerate() {
            let bin_h = r.queue.bin_minutes / 60.0;
            let c = color(i);
            if single {
                let light = c.mix(0.35);
                chart
                    .draw_series(LineSeries::new(
                        r.queue
                            .max
                            .iter()
                            .enumerate()
                            .map(|(b, &m)| ((b as f64 + 0.5) * bin_h, f64::from(m))),
                        light,
                    ))
                    .map_err(s)?
                    .label("longest queue in the bin")
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], light));
            }
            let label = if single {
                format!("mean queue, {}", r.router)
            } else {
                legend(r)
            };
            chart
                .draw_series(LineSeries::new(
                    r.queue
                        .mean
                        .iter()
                        .enumerate()
                        .map(|(b, &m)| ((b as f64 + 0.5) * bin_h, m)),
                    c.stroke_width(2),
                ))
                .map_err(s)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(s)
    })
}

/// The service level of each hour (chats arriving in that hour), one line per report, with
/// the target as a dashed line if given.
pub fn service_level_over_time(
    reports: &[&Report],
    target: Option<f64>,
) -> Result<String, SimError> {
    svg("the service level plot", |root| {
        let hours = reports
            .iter()
            .map(|r| r.hours.len())
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let threshold = reports.first().map_or(20.0, |r| r.service_level_seconds);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Share of chats answered within {threshold} s, by hour of arrival"),
                ("sans-serif", 24),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..hours, 0.0..105.0)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc("hour of the run")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("service level (%)")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(s)?;
        if let Some(t) = target {
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 100.0 * t), (hours, 100.0 * t)],
                    8,
                    6,
                    grey.stroke_width(1),
                ))
                .map_err(s)?
                .label(format!("target {:.0} %", 100.0 * t))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        }
        for (i, r) in reports.iter().enumerate() {
            let c = color(i);
            let points: Vec<(f64, f64)> = r
                .hours
                .iter()
                .filter(|h| h.offered > 0)
                .map(|h| (f64::from(h.hour) + 0.5, 100.0 * h.service_level))
                .collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                .map_err(s)?
                .label(legend(r))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(s)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(s)
    })
}

/// The distribution of waits of answered chats that waited at all (share of all answered
/// chats per bin), one outline per report; the share answered at once is in the legend.
pub fn wait_distribution(reports: &[&Report]) -> Result<String, SimError> {
    svg("the wait distribution plot", |root| {
        // Show the tail up to twice the 99th percentile (or the longest wait, if shorter),
        // in at most 60 bars.
        let reach = reports
            .iter()
            .map(|r| {
                let (p99, max) = (r.waits.p99, r.waits.max);
                if p99.is_finite() {
                    max.min(2.0 * p99)
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max)
            .max(crate::HISTOGRAM_BIN_SECONDS);
        let base = crate::HISTOGRAM_BIN_SECONDS;
        let merge = ((reach / base / 60.0).ceil() as usize).max(1);
        let width = base * merge as f64;
        let bars = (reach / width).ceil() as usize;
        let shares: Vec<Vec<f64>> = reports
            .iter()
            .map(|r| {
                let answered = r.chats.answered.max(1) as f64;
                (0..bars)
                    .map(|b| {
                        let from = b * merge;
                        let sum: u64 = r.wait_histogram.counts.iter().skip(from).take(merge).sum();
                        100.0 * sum as f64 / answered
                    })
                    .collect()
            })
            .collect();
        let top = shares.iter().flatten().copied().fold(0.1, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption("Waits of answered chats that waited", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..(bars as f64 * width), 0.0..top * 1.1)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc(format!("wait (s), bins of {width} s"))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("share of answered chats (%)")
            .draw()
            .map_err(s)?;
        for (i, (r, share)) in reports.iter().zip(&shares).enumerate() {
            let c = color(i);
            let at_once = 100.0 * r.wait_histogram.at_once as f64 / r.chats.answered.max(1) as f64;
            let fill = if reports.len() == 1 {
                c.mix(0.45).filled()
            } else {
                c.mix(0.12).filled()
            };
            chart
                .draw_series(share.iter().enumerate().map(|(b, &v)| {
                    Rectangle::new([(b as f64 * width, 0.0), ((b + 1) as f64 * width, v)], fill)
                }))
                .map_err(s)?;
            // The outline as a step line, so overlapping reports stay readable.
            let mut steps = vec![(0.0, 0.0)];
            for (b, &v) in share.iter().enumerate() {
                steps.push((b as f64 * width, v));
                steps.push(((b + 1) as f64 * width, v));
            }
            steps.push((bars as f64 * width, 0.0));
            chart
                .draw_series(LineSeries::new(steps, c.stroke_width(2)))
                .map_err(s)?
                .label(format!("{}: {:.1} % answered at once", r.router, at_once))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(s)
    })
}

/// Service level against team size: each simulated point with its 95 % interval, the
/// theory's curve when the scenario is one it covers, the target, and the answer.
pub fn sizing(result: &Sizing) -> Result<String, SimError> {
    svg("the sizing plot", |root| {
        // Around the answer: the binary search's far probes would squeeze the interesting part.
        let points: Vec<&crate::sizing::SizingPoint> = result
            .points
            .iter()
            .filter(|p| {
                result
                    .agents
                    .is_none_or(|n| p.agents + 6 >= n && p.agents <= n + 6)
            })
            .collect();
        let (lo, hi) = points.iter().fold((u32::MAX, 0), |(lo, hi), p| {
            (lo.min(p.agents), hi.max(p.agents))
        });
        let (lo, hi) = (f64::from(lo.min(hi)) - 0.5, f64::from(hi) + 0.5);
        let goal = &result.goal;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Share answered within {} s against team size ({} router)",
                    goal.within_seconds, result.router
                ),
                ("sans-serif", 24),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, 0.0..105.0)
            .map_err(s)?;
        chart
            .configure_mesh()
            .x_desc("agents")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("service level (%)")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(s)?;
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(DashedLineSeries::new(
                [
                    (lo, 100.0 * goal.service_level),
                    (hi, 100.0 * goal.service_level),
                ],
                8,
                6,
                grey.stroke_width(1),
            ))
            .map_err(s)?
            .label(format!("target {:.0} %", 100.0 * goal.service_level))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        let theory: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|p| p.theory.map(|t| (f64::from(p.agents), 100.0 * t)))
            .collect();
        if !theory.is_empty() {
            let c = color(1);
            chart
                .draw_series(LineSeries::new(theory.iter().copied(), c.stroke_width(2)))
                .map_err(s)?
                .label(
                    result
                        .theory_name
                        .clone()
                        .unwrap_or_else(|| "theory".into()),
                )
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        let c = color(0);
        let sim: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (f64::from(p.agents), 100.0 * p.service_level.mean))
            .collect();
        chart
            .draw_series(sim.iter().map(|&p| Circle::new(p, 5, c.filled())))
            .map_err(s)?
            .label("simulated, with 95 % interval")
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.service_level.half_width_95.is_finite())
                    .map(|p| {
                        let x = f64::from(p.agents);
                        let (m, h) = (p.service_level.mean, p.service_level.half_width_95);
                        PathElement::new(
                            vec![(x, 100.0 * (m - h).max(0.0)), (x, 100.0 * (m + h).min(1.0))],
                            c.stroke_width(2),
                        )
                    }),
            )
            .map_err(s)?;
        if let Some(n) = result.agents {
            let green = color(2);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(f64::from(n), 0.0), (f64::from(n), 105.0)],
                    green.stroke_width(2),
                )))
                .map_err(s)?
                .label(format!("smallest team meeting the target: {n}"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(s)
    })
}
