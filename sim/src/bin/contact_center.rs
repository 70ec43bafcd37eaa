fn main() {
    let scenario = chatio_sim::Scenario::centre_500();
    let t = std::time::Instant::now();
    let r = chatio_sim::Simulation::builtin(scenario, "automatic")
        .unwrap()
        .run()
        .unwrap();
    eprintln!("{:?}", t.elapsed());
    let mut r2 = r.clone();
    r2.hours.clear();
    r2.agents.per_agent.clear();
    r2.queue.mean.clear();
    r2.queue.max.clear();
    r2.wait_histogram.counts.clear();
    println!("{}", serde_json::to_string_pretty(&r2).unwrap());
    for h in &r.hours {
        println!(
            "{:2} off {:6} sl {:.3} asa {:7.1} ab {:5} q {:7.1} max {:4} avail {:6.1} occ {:.3}",
            h.hour,
            h.offered,
            h.service_level,
            h.asa_seconds,
            h.abandoned,
            h.mean_queue,
            h.max_queue,
            h.available_agents,
            h.occupancy
        );
    }
}
