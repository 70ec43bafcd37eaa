//! Queueing theory for the checks: Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M).
//!
//! Rates are per second and times in seconds throughout. `n` is the number of servers: for the
//! simulator, agents times slots, since a simulated chat takes as long however many others
//! its agent has.

/// Erlang B: the probability that all `n` servers are busy in a loss system offered `a`
/// Erlangs (the recursion `B(k) = a B(k-1) / (k + a B(k-1))`, stable for any size).
pub fn erlang_b(n: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C's figures for M/M/n: Poisson arrivals, exponential handling, `n` servers, an
/// unlimited queue served in arrival order, nobody gives up.
///
/// ```
/// use chatio_sim::erlang::ErlangC;
/// // 10 agents, 100 chats an hour, 5 minutes each: 8.33 Erlangs.
/// let c = ErlangC::new(10, 100.0 / 3600.0, 300.0).expect("stable: a < n");
/// assert!((c.p_wait - 0.4876).abs() < 1e-4);
/// assert!((c.mean_wait - 87.77).abs() < 0.01);
/// assert!(c.service_level(20.0) > 1.0 - c.p_wait);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErlangC {
    /// Servers.
    pub n: u32,
    /// Arrival rate, per second.
    pub lambda: f64,
    /// Mean handling time, in seconds.
    pub mean_handle: f64,
    /// Offered load in Erlangs (`lambda * mean_handle`).
    pub load: f64,
    /// Probability that an arriving customer waits (the Erlang C formula).
    pub p_wait: f64,
    /// Mean wait over all customers, in seconds.
    pub mean_wait: f64,
    /// Server occupancy (`load / n`).
    pub occupancy: f64,
}

impl ErlangC {
    /// The figures, or `None` when the queue is unstable (`load >= n`) or an input is not
    /// positive.
    pub fn new(n: u32, lambda: f64, mean_handle: f64) -> Option<Self> {
        let load = lambda * mean_handle;
        if n == 0 || !(lambda > 0.0 && mean_handle > 0.0) || load >= f64::from(n) {
            return None;
        }
        let b = erlang_b(n, load);
        let nf = f64::from(n);
        let p_wait = nf * b / (nf - load * (1.0 - b));
        Some(Self {
            n,
            lambda,
            mean_handle,
            load,
            p_wait,
            mean_wait: p_wait * mean_handle / (nf - load),
            occupancy: load / nf,
        })
    }

    /// The share of customers answered within `t` seconds: `1 - C e^{-(n - a) t / S}`.
    pub fn service_level(&self, t: f64) -> f64 {
        let rate = (f64::from(self.n) - self.load) / self.mean_handle;
        1.0 - self.p_wait * (-rate * t.max(0.0)).exp()
    }

    /// The smallest number of servers whose service level at `t` seconds reaches `target`,
    /// searching up to `limit` servers.
    pub fn servers_for(
        lambda: f64,
        mean_handle: f64,
        target: f64,
        t: f64,
        limit: u32,
    ) -> Option<u32> {
        let start = (lambda * mean_handle).floor() as u32 + 1;
        (start.max(1)..=limit).find(|&n| {
            Self::new(n, lambda, mean_handle).is_some_and(|c| c.service_level(t) >= target)
        })
    }
}

/// Erlang A's figures for M/M/n+M: Erlang C's model where each waiting customer gives up after
/// an exponential patience time.
///
/// Worked out from the birth–death chain of the number of customers in the system, with
/// departures at rate `min(k, n) μ + max(k - n, 0) θ` in state `k`; arrivals see the
/// stationary distribution (PASTA).
///
/// ```
/// use chatio_sim::erlang::{ErlangA, ErlangC};
/// // Very patient customers: Erlang A tends to Erlang C.
/// let a = ErlangA::new(10, 100.0 / 3600.0, 300.0, 1e9).unwrap();
/// let c = ErlangC::new(10, 100.0 / 3600.0, 300.0).unwrap();
/// assert!((a.p_wait - c.p_wait).abs() < 1e-4);
/// assert!(a.p_abandon < 1e-6);
/// // Impatient customers keep even an overloaded centre stable.
/// let busy = ErlangA::new(10, 150.0 / 3600.0, 300.0, 60.0).unwrap();
/// assert!(busy.p_abandon > 0.1 && busy.p_abandon < 0.5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ErlangA {
    /// Servers.
    pub n: u32,
    /// Arrival rate, per second.
    pub lambda: f64,
    /// Mean handling time, in seconds.
    pub mean_handle: f64,
    /// Mean patience, in seconds.
    pub mean_patience: f64,
    /// Probability that an arriving customer waits.
    pub p_wait: f64,
    /// Probability that a customer gives up.
    pub p_abandon: f64,
    /// Mean number of customers waiting.
    pub mean_queue: f64,
    /// Mean time in the queue over all customers (served or not), in seconds (Little's law:
    /// `mean_queue / lambda`).
    pub mean_wait: f64,
    /// Server occupancy: the share of server time busy.
    pub occupancy: f64,
    /// `queue_tail[j]`: the probability that every server is busy and `j` customers wait.
    queue_tail: Vec<f64>,
}

impl ErlangA {
    /// The figures, or `None` if an input is not positive, or if the queue's distribution
    /// reaches beyond 5 million waiting customers (patience of years with too few servers).
    pub fn new(n: u32, lambda: f64, mean_handle: f64, mean_patience: f64) -> Option<Self> {
        if n == 0 || !(lambda > 0.0 && mean_handle > 0.0 && mean_patience > 0.0) {
            return None;
        }
        let (mu, theta) = (1.0 / mean_handle, 1.0 / mean_patience);
        let nf = f64::from(n);
        // Log-weights of states 0, 1, 2, ...: products of lambda / departure rate, which
        // overflow for large centres if kept as plain numbers.
        let mut logs = vec![0.0f64];
        let mut peak = 0.0f64;
        let mut k: u64 = 0;
        loop {
            k += 1;
            let kf = k as f64;
            let death = kf.min(nf) * mu + (kf - nf).max(0.0) * theta;
            let next = logs[logs.len() - 1] + lambda.ln() - death.ln();
            logs.push(next);
            peak = peak.max(next);
            // Past the servers and far below the peak, the rest weighs nothing.
            if kf > nf && next < peak - 60.0 {
                break;
            }
            // A queue this long is an input far outside the model's use (patience of years
            // with an overloaded team): no answer rather than a huge table.
            if k > u64::from(n) + 5_000_000 {
                return None;
            }
        }
        let weights: Vec<f64> = logs.iter().map(|l| (l - peak).exp()).collect();
        let total: f64 = weights.iter().sum();
        let pi: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let n_us = n as usize;
        let p_wait: f64 = pi.iter().skip(n_us).sum();
        let mean_queue: f64 = pi
            .iter()
            .enumerate()
            .skip(n_us)
            .map(|(k, p)| (k - n_us) as f64 * p)
            .sum();
        let busy: f64 = pi
            .iter()
            .enumerate()
            .map(|(k, p)| (k.min(n_us)) as f64 * p)
            .sum();
        Some(Self {
            n,
            lambda,
            mean_handle,
            mean_patience,
            p_wait,
            p_abandon: theta * mean_queue / lambda,
            mean_queue,
            mean_wait: mean_queue / lambda,
            occupancy: busy / nf,
            queue_tail: pi[n_us..].to_vec(),
        })
    }

    /// The share of customers answered within `t` seconds (those who give up count as not
    /// answered).
    ///
    /// A customer who finds `j` waiting ahead moves up at rate `n μ + i θ` while `i` are
    /// ahead (a server frees, or one ahead gives up) and gives up itself at rate `θ`; the
    /// chance of reaching a server by `t` is computed by uniformization over that chain.
    pub fn service_level(&self, t: f64) -> f64 {
        let (mu, theta) = (1.0 / self.mean_handle, 1.0 / self.mean_patience);
        let nmu = f64::from(self.n) * mu;
        let answered_at_once = 1.0 - self.p_wait;
        if t <= 0.0 {
            return answered_at_once;
        }
        // mass[i]: customers still waiting with i ahead of them.
        let mut mass = self.queue_tail.clone();
        let top = mass.len().saturating_sub(1) as f64;
        let uniform_rate = nmu + top * theta + theta;
        let lt = uniform_rate * t;
        let mut served = 0.0;
        let mut result = 0.0;
        // Poisson(lt) weights, kept in log space to start far from zero safely.
        let mut log_weight = -lt;
        let steps = (lt + 12.0 * lt.sqrt() + 30.0).ceil() as usize;
        for m in 0..=steps {
            result += log_weight.exp() * served;
            let mut next = vec![0.0; mass.len()];
            for (i, &p) in mass.iter().enumerate() {
                if p == 0.0 {
                    continue;
                }
                let advance = nmu + i as f64 * theta;
                if i == 0 {
                    served += p * advance / uniform_rate;
                } else {
                    next[i - 1] += p * advance / uniform_rate;
                }
                // Giving up leaves the chain; what remains stays put.
                next[i] += p * (1.0 - (advance + theta) / uniform_rate);
            }
            mass = next;
            log_weight += lt.ln() - ((m + 1) as f64).ln();
        }
        // The Poisson weights past `steps` are negligible; `served` only grows.
        answered_at_once + result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_b_known_values() {
        // Tables: B(5, 3) = 0.1101, B(10, 5) = 0.01838.
        assert!((erlang_b(5, 3.0) - 0.110_09).abs() < 1e-4);
        assert!((erlang_b(10, 5.0) - 0.018_38).abs() < 1e-4);
    }

    #[test]
    fn erlang_c_single_server_is_rho() {
        // M/M/1: P(wait) = rho, mean wait = rho S / (1 - rho).
        let c = ErlangC::new(1, 0.7 / 300.0, 300.0).unwrap();
        assert!((c.p_wait - 0.7).abs() < 1e-12);
        assert!((c.mean_wait - 0.7 * 300.0 / 0.3).abs() < 1e-9);
        assert!(ErlangC::new(2, 2.0 / 300.0, 300.0).is_none());
    }

    #[test]
    fn erlang_a_without_patience_limit_matches_c_and_its_service_level() {
        let a = ErlangA::new(20, 0.9 * 20.0 / 240.0, 240.0, 1e12).unwrap();
        let c = ErlangC::new(20, 0.9 * 20.0 / 240.0, 240.0).unwrap();
        assert!((a.p_wait - c.p_wait).abs() < 1e-6);
        assert!((a.mean_wait - c.mean_wait).abs() < 1e-3 * c.mean_wait);
        for t in [0.0, 10.0, 20.0, 60.0] {
            let (sa, sc) = (a.service_level(t), c.service_level(t));
            assert!((sa - sc).abs() < 1e-4, "t={t}: {sa} vs {sc}");
        }
        assert!((a.occupancy - c.occupancy).abs() < 1e-6);
    }

    #[test]
    fn erlang_a_balances_flows() {
        // Everyone who arrives is served or gives up: lambda = served rate + abandon rate.
        let a = ErlangA::new(8, 2.5 / 60.0, 240.0, 90.0).unwrap();
        let served_rate = a.occupancy * 8.0 / 240.0;
        assert!((a.lambda * (1.0 - a.p_abandon) - served_rate).abs() < 1e-9);
        // The service level at a long threshold is everyone who is ever answered.
        assert!((a.service_level(1e5) - (1.0 - a.p_abandon)).abs() < 1e-6);
    }

    #[test]
    fn servers_for_meets_the_target_and_one_fewer_does_not() {
        let (lambda, s) = (300.0 / 3600.0, 240.0);
        let n = ErlangC::servers_for(lambda, s, 0.8, 20.0, 1000).unwrap();
        assert!(ErlangC::new(n, lambda, s).unwrap().service_level(20.0) >= 0.8);
        assert!(ErlangC::new(n - 1, lambda, s).is_none_or(|c| c.service_level(20.0) < 0.8));
    }
}
