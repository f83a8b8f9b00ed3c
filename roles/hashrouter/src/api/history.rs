//! The live chart's data: each route's allocated, seen and acknowledged rate, sampled every
//! [`SAMPLE_INTERVAL_S`] seconds for the last hour, each a mean over the minute before it (a
//! few shares a second make a jagged line at a shorter span).

use std::collections::{HashMap, VecDeque};

use crate::core::NodeSnapshot;

use super::model::{History, HistoryPoint, RouteHistory};

pub const SAMPLE_INTERVAL_S: u64 = 5;
/// Points kept per route: an hour.
pub const MAX_POINTS: usize = 720;
/// Rates are means over this span.
const RATE_SPAN_S: u64 = 60;
/// A route not seen for this long (a contract that ended) is forgotten.
const FORGET_AFTER_S: u64 = 3600;

/// Cumulative counters of a route at one instant.
#[derive(Debug, Clone, Copy)]
struct Reading {
    at_unix: u64,
    seen_work: f64,
    acked_work: f64,
}

#[derive(Debug, Default)]
struct Series {
    /// Readings of the last [`RATE_SPAN_S`] (and one before), oldest first.
    readings: VecDeque<Reading>,
    points: VecDeque<HistoryPoint>,
    last_seen_unix: u64,
}

/// Every route's series, by route name.
#[derive(Debug, Default)]
pub struct RateHistory {
    series: HashMap<String, Series>,
    /// Route names in the order the node lists them.
    order: Vec<String>,
}

impl RateHistory {
    /// Adds a point per route from `snapshot`, taken at `at_unix`.
    pub fn record(&mut self, snapshot: &NodeSnapshot, at_unix: u64) {
        self.order.clear();
        let default_target = super::view::default_route_target(snapshot);
        for (i, route) in snapshot
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.retired)
        {
            self.order.push(route.name.clone());
            let series = self.series.entry(route.name.clone()).or_default();
            let reading = Reading {
                at_unix,
                seen_work: route.delivered,
                acked_work: work::work_of_difficulty(route.upstream.counters.acked_work),
            };
            // A restored or reused route can go backwards: start its span again.
            if series.readings.back().is_some_and(|last| {
                last.seen_work > reading.seen_work || last.acked_work > reading.acked_work
            }) {
                series.readings.clear();
            }
            series.readings.push_back(reading);
            while series.readings.len() > 2 && series.readings[1].at_unix + RATE_SPAN_S <= at_unix {
                series.readings.pop_front();
            }
            let first = series.readings[0];
            let span = at_unix.saturating_sub(first.at_unix) as f64;
            let rate = |from: f64, to: f64| if span > 0.0 { (to - from) / span } else { 0.0 };
            series.points.push_back(HistoryPoint {
                at_unix,
                allocated_hs: if i == 0 { default_target } else { route.target },
                seen_hs: rate(first.seen_work, reading.seen_work),
                acked_hs: rate(first.acked_work, reading.acked_work),
            });
            if series.points.len() > MAX_POINTS {
                series.points.pop_front();
            }
            series.last_seen_unix = at_unix;
        }
        self.series
            .retain(|_, s| s.last_seen_unix + FORGET_AFTER_S > at_unix);
    }

    /// The routes the node has now, in its order, with their points.
    pub fn to_model(&self) -> History {
        let routes = self
            .order
            .iter()
            .filter_map(|name| {
                let series = self.series.get(name)?;
                Some(RouteHistory {
                    name: name.clone(),
                    points: series.points.iter().copied().collect(),
                })
            })
            .collect();
        History {
            interval_s: SAMPLE_INTERVAL_S,
            routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{NodeSnapshot, RouteSnapshot};

    fn snapshot(seen: f64, acked_difficulty: f64) -> NodeSnapshot {
        let mut snapshot = crate::api::tests::empty_snapshot();
        let mut route: RouteSnapshot = crate::api::tests::route("default");
        route.delivered = seen;
        // The default route is allocated what the farm has beyond the other routes.
        snapshot.farm_hashrate = 7.0;
        route.upstream.counters.acked_work = acked_difficulty;
        snapshot.routes = vec![route];
        snapshot
    }

    #[test]
    fn rates_are_means_over_the_last_minute() {
        let mut history = RateHistory::default();
        let hash_per_difficulty = work::work_of_difficulty(1.0);
        for i in 0..=100u64 {
            // 1000 H/s seen, 0.5 difficulty-1 shares a second acked.
            let at = 1_000 + i * SAMPLE_INTERVAL_S;
            history.record(&snapshot(1000.0 * (i * 5) as f64, 0.5 * (i * 5) as f64), at);
        }
        let model = history.to_model();
        let points = &model.routes[0].points;
        assert_eq!(points.len(), 101);
        let last = points.last().unwrap();
        assert_eq!(last.allocated_hs, 7.0);
        assert!((last.seen_hs - 1000.0).abs() < 1e-6, "{last:?}");
        assert!((last.acked_hs - 0.5 * hash_per_difficulty).abs() < 1e-3);
        // A counter going backwards (a reused route) does not make a negative rate.
        history.record(&snapshot(0.0, 0.0), 2_000);
        let model = history.to_model();
        assert_eq!(model.routes[0].points.last().unwrap().seen_hs, 0.0);
    }

    #[test]
    fn bounded_to_an_hour() {
        let mut history = RateHistory::default();
        for i in 0..(MAX_POINTS as u64 + 10) {
            history.record(&snapshot(i as f64, 0.0), i * SAMPLE_INTERVAL_S);
        }
        assert_eq!(history.to_model().routes[0].points.len(), MAX_POINTS);
    }
}
