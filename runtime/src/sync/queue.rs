//! The ops a session has yet to send, by local number: a set of intervals, so that "everything"
//! (a full sync of a million ops) takes one entry and the batches come out in local order,
//! parents first.

use std::collections::BTreeMap;

/// A set of local numbers, as disjoint intervals `[start, end)` keyed by their start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SendQueue {
    intervals: BTreeMap<u64, u64>,
}

impl SendQueue {
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    pub fn insert(&mut self, local: u64) {
        self.insert_range(local..local.saturating_add(1));
    }

    /// Adds `[range.start, range.end)`, merging with the intervals it touches.
    pub fn insert_range(&mut self, range: std::ops::Range<u64>) {
        let (mut start, mut end) = (range.start, range.end);
        if start >= end {
            return;
        }
        // An interval that starts before and reaches `start`.
        if let Some((&before, &before_end)) = self.intervals.range(..=start).next_back() {
            if before_end >= start {
                start = before;
                end = end.max(before_end);
                self.intervals.remove(&before);
            }
        }
        // Intervals that start inside the new one.
        let inside: Vec<(u64, u64)> = self.intervals.range(start..=end).map(|(start, end)| (*start, *end)).collect();
        for (inner, inner_end) in inside {
            end = end.max(inner_end);
            self.intervals.remove(&inner);
        }
        self.intervals.insert(start, end);
    }

    /// Removes and returns up to `count` of the smallest numbers.
    pub fn take(&mut self, count: usize) -> Vec<u64> {
        let mut taken = Vec::with_capacity(count.min(4096));
        while taken.len() < count {
            let Some((&start, &end)) = self.intervals.iter().next() else { break };
            self.intervals.remove(&start);
            let room = (count - taken.len()) as u64;
            let stop = end.min(start.saturating_add(room));
            taken.extend(start..stop);
            if stop < end {
                self.intervals.insert(stop, end);
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_come_out_in_order() {
        let mut queue = SendQueue::default();
        queue.insert_range(10..20);
        queue.insert(5);
        queue.insert(20);
        queue.insert_range(0..6);
        queue.insert(15);
        assert_eq!(queue.intervals.len(), 2, "{queue:?}");
        assert_eq!(queue.take(3), vec![0, 1, 2]);
        assert_eq!(queue.take(100), [3, 4, 5].into_iter().chain(10..=20).collect::<Vec<_>>());
        assert!(queue.is_empty());
        queue.insert_range(0..1_000_000);
        assert_eq!(queue.take(2).len(), 2);
        assert_eq!(queue.intervals.len(), 1);
    }
}
