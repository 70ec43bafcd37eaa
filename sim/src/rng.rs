//! The simulator's random numbers: xoshiro256++ seeded through SplitMix64.
//!
//! A run must replay exactly from its seed, on any machine and after any dependency upgrade, so
//! the generator lives here rather than in a crate whose value streams may change between
//! versions. Each source of randomness (arrivals, handling, patience, ...) draws from its own
//! stream, so two runs that differ only in their router see the same customers with the same
//! handling times and the same patience: comparisons between routers are not blurred by noise
//! (common random numbers).

/// A small, fast, seedable generator (xoshiro256++).
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let s = [
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
        ];
        Self { s }
    }

    /// An independent stream of `seed`, numbered `stream`.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut mix = stream.wrapping_mul(0xD605_BBB5_8C8A_BBB5) ^ 0x5851_F42D_4C95_7F2D;
        Self::new(seed ^ splitmix64(&mut mix))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.s;
        let result = s0.wrapping_add(*s3).rotate_left(23).wrapping_add(*s0);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in the open interval (0, 1): never 0, so `ln` of it is always finite.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }

    /// Standard normal (Box–Muller; one of the pair is dropped, which keeps the stream's use
    /// independent of how many normals were drawn before).
    pub fn normal(&mut self) -> f64 {
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        r * theta.cos()
    }

    /// An index in `0..weights.len()`, drawn with probability proportional to its weight.
    /// `weights` must not be empty and must have a positive sum.
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let mut a = Rng::stream(7, 1);
        let mut b = Rng::stream(7, 1);
        let mut c = Rng::stream(7, 2);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn moments_of_uniform_exponential_and_normal() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let u: f64 = (0..n).map(|_| rng.uniform()).sum::<f64>() / n as f64;
        let e: f64 = (0..n).map(|_| rng.exponential(5.0)).sum::<f64>() / n as f64;
        let z: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let zm = z.iter().sum::<f64>() / n as f64;
        let zv = z.iter().map(|x| (x - zm) * (x - zm)).sum::<f64>() / n as f64;
        // Five standard errors: these fail only if the generator is wrong.
        assert!((u - 0.5).abs() < 5.0 * (1.0 / 12.0f64).sqrt() / (n as f64).sqrt());
        assert!((e - 5.0).abs() < 5.0 * 5.0 / (n as f64).sqrt());
        assert!(zm.abs() < 5.0 / (n as f64).sqrt());
        assert!((zv - 1.0).abs() < 5.0 * 2.0f64.sqrt() / (n as f64).sqrt());
    }

    #[test]
    fn pick_follows_weights() {
        let mut rng = Rng::new(11);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[rng.pick(&[1.0, 0.0, 2.0])] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[2]) / 30_000.0;
        assert!((share - 2.0 / 3.0).abs() < 0.02, "{share}");
    }
}
