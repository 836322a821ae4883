//! Background probes under a fault: `ping` every 300 ms until told to stop, then which probes
//! went unanswered and when.
//!
//! When a probe was sent is read from ping's own timestamps (`-D`): ping does not keep its
//! interval while the path is down (a neighbour it cannot resolve holds its sends back), so the
//! sequence number alone places a probe too early.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The interval between two probes.
pub(super) const INTERVAL: Duration = Duration::from_millis(300);

/// A running `ping` in a namespace.
pub(super) struct Probe {
    child: tokio::process::Child,
    started: Instant,
    /// `started` as Unix time in seconds, ping's clock.
    started_unix: f64,
    what: String,
}

/// What a stopped probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub sent: u32,
    /// Sequence numbers (from 1) that got no answer.
    pub lost: Vec<u32>,
    pub started: Instant,
    /// When ping reported probes, after `started`: a reply when it came, an unanswered probe
    /// when the next one went out.
    pub reported: BTreeMap<u32, Duration>,
}

impl Probe {
    /// Starts pinging `dst` from `ns`; it runs until [`Probe::stop`] (or until dropped).
    pub(super) fn start(ns: &str, dst: &str) -> Result<Self, String> {
        let interval = format!("{:.1}", INTERVAL.as_secs_f64());
        let child = tokio::process::Command::new("ip")
            .args(["netns", "exec", ns, "ping", "-n", "-D", "-O", "-i", &interval, "-W", "1", dst])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start ping in {ns}: {e}"))?;
        let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Ok(Self { child, started: Instant::now(), started_unix, what: format!("{ns} → {dst}") })
    }

    /// Interrupts `ping` (which then prints its summary) and reads what it saw.
    pub(super) async fn stop(self) -> Result<Outcome, String> {
        if let Some(pid) = self.child.id() {
            kernel::procs::signal(pid, kernel::procs::Signal::SIGINT);
        }
        let out = tokio::time::timeout(Duration::from_secs(5), self.child.wait_with_output())
            .await
            .map_err(|_| format!("ping {} did not stop", self.what))?
            .map_err(|e| format!("ping {}: {e}", self.what))?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse(&text, self.started, self.started_unix)
            .ok_or_else(|| format!("ping {} printed no summary: {text}", self.what))
    }
}

/// Reads `ping -n -D -O` output: the replies' sequence numbers, when each probe was reported
/// (`[UNIX-TIME]` before a line; `started_unix` is `started` on that clock) and the summary's
/// count.
fn parse(text: &str, started: Instant, started_unix: f64) -> Option<Outcome> {
    let summary = text.lines().find(|l| l.contains("packets transmitted"))?;
    let sent: u32 = summary.split_whitespace().next()?.parse().ok()?;
    let seq_of = |l: &str| -> Option<u32> {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("icmp_seq="))?
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()
    };
    let time_of = |l: &str| -> Option<f64> { l.strip_prefix('[')?.split_once(']')?.0.parse().ok() };
    let mut answered = std::collections::BTreeSet::new();
    let mut reported = BTreeMap::new();
    for line in text.lines() {
        let Some(seq) = seq_of(line) else { continue };
        let reply = line.contains(" bytes from ");
        if reply {
            answered.insert(seq);
        }
        if let Some(t) = time_of(line) {
            // An unanswered probe is reported as the next one goes out.
            let at = t - started_unix - if reply { 0.0 } else { INTERVAL.as_secs_f64() };
            reported.entry(seq).or_insert_with(|| Duration::from_secs_f64(at.max(0.0)));
        }
    }
    let lost = (1..=sent).filter(|s| !answered.contains(s)).collect();
    Some(Outcome { sent, lost, started, reported })
}

impl Outcome {
    /// How many probes sent from `from` to `to` were lost.
    pub(super) fn lost_between(&self, from: Instant, to: Instant) -> u32 {
        self.lost.iter().filter(|s| (from..=to).contains(&self.sent_at(**s))).count() as u32
    }

    /// The lost probes sent outside every one of `spans`.
    pub(super) fn lost_outside(&self, spans: &[(Instant, Instant)]) -> Vec<u32> {
        let inside = |seq: u32| spans.iter().any(|(from, to)| (*from..=*to).contains(&self.sent_at(seq)));
        self.lost.iter().copied().filter(|s| !inside(*s)).collect()
    }

    /// The spans of `spans` (`(label, from, to)`) during which the probes `seqs` were sent,
    /// once each, in the order of `spans`; probes sent outside every span are left out.
    pub(super) fn sent_during<'a>(&self, seqs: &[u32], spans: &'a [(String, Instant, Instant)]) -> Vec<&'a str> {
        spans
            .iter()
            .filter(|(_, from, to)| seqs.iter().any(|s| (*from..=*to).contains(&self.sent_at(*s))))
            .map(|(label, _, _)| label.as_str())
            .collect()
    }

    /// When probe `seq` was sent: when ping reported it, or, for a probe it said nothing of,
    /// one interval on from the closest one before it that it did report.
    fn sent_at(&self, seq: u32) -> Instant {
        match self.reported.range(..=seq).next_back() {
            Some((&k, &at)) => self.started + at + INTERVAL * (seq - k),
            None => self.started + INTERVAL * seq.saturating_sub(1),
        }
    }

    /// The lost probes as "N of M" and, when some were lost, when they were sent, in seconds after
    /// `t0`, one span per run of consecutive losses ("8 of 61: -2.1 s; +13.8 … +15.9 s").
    pub(super) fn describe(&self, t0: Instant) -> String {
        let at = |seq: u32| {
            let t = self.sent_at(seq);
            if t >= t0 { t.duration_since(t0).as_secs_f64() } else { -t0.duration_since(t).as_secs_f64() }
        };
        let runs = runs(&self.lost);
        let mut spans: Vec<String> = runs
            .iter()
            .take(MAX_SPANS)
            .map(|&(a, b)| if a == b { format!("{:+.1} s", at(a)) } else { format!("{:+.1} … {:+.1} s", at(a), at(b)) })
            .collect();
        if runs.len() > MAX_SPANS {
            spans.push(format!("{} more", runs.len() - MAX_SPANS));
        }
        match spans.is_empty() {
            true => format!("0 of {}", self.sent),
            false => format!("{} of {}: {}", self.lost.len(), self.sent, spans.join("; ")),
        }
    }
}

/// Runs of lost probes listed by [`Outcome::describe`].
const MAX_SPANS: usize = 3;

/// Consecutive sequence numbers as runs (first, last), in order.
fn runs(seqs: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &seq in seqs {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    runs
}

/// Probe numbers as runs a reader takes in at a glance: "292, 333–739, 785–872".
pub(super) fn seq_ranges(seqs: &[u32]) -> String {
    let runs = runs(seqs);
    let mut parts: Vec<String> =
        runs.iter().take(MAX_SPANS).map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}–{b}") }).collect();
    if runs.len() > MAX_SPANS {
        parts.push(format!("{} more runs", runs.len() - MAX_SPANS));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "PING 10.244.0.2 (10.244.0.2) 56(84) bytes of data.\n\
        64 bytes from 10.244.0.2: icmp_seq=1 ttl=61 time=0.71 ms\n\
        no answer yet for icmp_seq=2\n\
        no answer yet for icmp_seq=3\n\
        64 bytes from 10.244.0.2: icmp_seq=4 ttl=61 time=0.52 ms\n\
        \n--- 10.244.0.2 ping statistics ---\n\
        5 packets transmitted, 2 received, 60% packet loss, time 1204ms\n";

    #[test]
    fn unanswered_sequence_numbers_are_the_lost_probes() {
        let t0 = Instant::now();
        let o = parse(OUT, t0, 0.0).unwrap();
        assert_eq!(o.sent, 5);
        assert_eq!(o.lost, vec![2, 3, 5]);
        assert_eq!(o.describe(t0), "3 of 5: +0.3 … +0.6 s; +1.2 s");
        assert_eq!(o.describe(t0 + Duration::from_secs(1)), "3 of 5: -0.7 … -0.4 s; +0.2 s");
        let many = Outcome { sent: 9, lost: vec![1, 3, 5, 7, 9], started: t0, reported: BTreeMap::new() };
        assert_eq!(many.describe(t0), "5 of 9: +0.0 s; +0.6 s; +1.2 s; 2 more");
        assert_eq!(many.lost_between(t0 + Duration::from_millis(500), t0 + Duration::from_millis(1800)), 3);
        // Probes 3 and 5 (sent at +0.6 s and +1.2 s) are in the span, 1, 7 and 9 are not.
        let span = (t0 + Duration::from_millis(500), t0 + Duration::from_millis(1300));
        assert_eq!(many.lost_outside(&[span]), vec![1, 7, 9]);
        assert_eq!(many.lost_outside(&[]), many.lost);
        let none = Outcome { sent: 9, lost: vec![], started: t0, reported: BTreeMap::new() };
        assert_eq!(none.describe(t0), "0 of 9");
        // Probe 3 (+0.6 s) falls in step 2, probe 9 (+2.4 s) in step 4, probe 7 (+1.8 s) in none.
        let ms = |m| t0 + Duration::from_millis(m);
        let steps = [
            ("step 1".to_string(), ms(0), ms(400)),
            ("step 2".to_string(), ms(500), ms(900)),
            ("step 3".to_string(), ms(1000), ms(1500)),
            ("step 4".to_string(), ms(2000), ms(2500)),
        ];
        assert_eq!(many.sent_during(&[3, 7, 9], &steps), ["step 2", "step 4"]);
        assert!(many.sent_during(&[], &steps).is_empty());
    }

    #[test]
    fn no_summary_is_no_outcome() {
        assert_eq!(parse("PING 10.244.0.2 (10.244.0.2) 56(84) bytes of data.\n", Instant::now(), 0.0), None);
    }

    /// ping held back while the path was down: probe 3 went out 5 s after the start, not at
    /// +0.6 s, and the probes after it are placed from there.
    #[test]
    fn ping_timestamps_place_the_probes() {
        let out = "PING 10.244.0.2 (10.244.0.2) 56(84) bytes of data.\n\
            [1000.100000] 64 bytes from 10.244.0.2: icmp_seq=1 ttl=61 time=0.71 ms\n\
            [1000.400000] no answer yet for icmp_seq=2\n\
            [1005.300000] no answer yet for icmp_seq=3\n\
            [1005.601000] 64 bytes from 10.244.0.2: icmp_seq=5 ttl=61 time=0.52 ms\n\
            \n--- 10.244.0.2 ping statistics ---\n\
            6 packets transmitted, 2 received, 66% packet loss, time 5504ms\n";
        let t0 = Instant::now();
        let o = parse(out, t0, 1000.0).unwrap();
        assert_eq!(o.lost, vec![2, 3, 4, 6]);
        assert_eq!(o.describe(t0), "4 of 6: +0.1 … +5.3 s; +5.9 s");
        assert_eq!(o.lost_between(t0 + Duration::from_secs(4), t0 + Duration::from_secs(6)), 3);
    }

    #[test]
    fn probe_numbers_read_as_runs() {
        assert_eq!(seq_ranges(&[292, 333, 334, 335, 785, 786]), "292, 333–335, 785–786");
        assert_eq!(seq_ranges(&[]), "");
    }
}
