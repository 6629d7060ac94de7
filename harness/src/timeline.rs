//! Per-RPC timelines: when each RPC started, got its first message and ended,
//! relative to the scenario's start. Reports draw them as bars, so that
//! parallel RPCs show as overlapping bars and serialised ones as a staircase.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keeps at most this many spans per scenario run (reports stay small); the
/// number left out is reported.
pub const MAX_SPANS: usize = 2_000;

/// What a span is called in reports. A load's RPCs are `"<what> #<number>"`
/// and keep the two parts until a report shows them: a load labels up to
/// `MAX_SPANS` RPCs per run, and a string built and freed for each was most
/// of what a span cost. In reports (JSON) a label is always a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Text(String),
    Numbered(&'static str, u64),
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Text(text) => f.write_str(text),
            Label::Numbered(what, number) => write!(f, "{what} #{number}"),
        }
    }
}

impl From<String> for Label {
    fn from(text: String) -> Self {
        Label::Text(text)
    }
}

impl From<&str> for Label {
    fn from(text: &str) -> Self {
        Label::Text(text.to_owned())
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Label::Text(text) => serializer.serialize_str(text),
            Label::Numbered(..) => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Label::Text)
    }
}

/// One RPC on the timeline, in microseconds since the scenario started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Span {
    pub label: Label,
    pub start_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_us: Option<u64>,
    /// The RPC ended as the scenario expected.
    pub ok: bool,
}

/// Collects spans for one scenario run. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Timeline {
    origin: Instant,
    inner: Arc<Collected>,
}

/// Once `MAX_SPANS` are kept, every further span is only counted. Under a
/// sustained load that is nearly every span, so counting must not take the
/// lock: `kept` mirrors `spans.len()` (written under the lock, read without
/// it) and `dropped` is an atomic. The spans kept and the count left out are
/// exactly what a lock around everything gives.
#[derive(Debug, Default)]
struct Collected {
    spans: Mutex<Vec<Span>>,
    kept: AtomicUsize,
    dropped: AtomicUsize,
}

impl Timeline {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            inner: Arc::new(Collected::default()),
        }
    }

    /// True once the timeline keeps no more spans (they are only counted).
    fn is_full(&self) -> bool {
        self.inner.kept.load(Ordering::Relaxed) >= MAX_SPANS
    }

    fn now_us(&self) -> u64 {
        self.offset_us(Instant::now())
    }

    /// Where `at` falls on this timeline, in microseconds since its start,
    /// for callers that build [`Span`]s themselves (see [`Timeline::absorb`]).
    pub fn offset_us(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_micros()).unwrap_or(u64::MAX)
    }

    /// Starts a span; finish it with [`SpanHandle::end`].
    pub fn start(&self, label: impl Into<Label>) -> SpanHandle {
        SpanHandle {
            timeline: self.clone(),
            span: Span {
                label: label.into(),
                start_us: self.now_us(),
                first_message_us: None,
                end_us: None,
                ok: false,
            },
        }
    }

    fn push(&self, span: Span) {
        // `kept` only grows between takes, so "full" read without the lock
        // is never wrong: a full timeline counts the span and is done.
        if self.is_full() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut spans = self
            .inner
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if spans.len() < MAX_SPANS {
            spans.push(span);
            self.inner.kept.store(spans.len(), Ordering::Relaxed);
        } else {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds spans a task recorded on its own, and the number of RPCs it
    /// left out, in one step: one lock per task instead of one per RPC (a
    /// load's workers share nothing while they run). Spans beyond what the
    /// timeline keeps are counted as left out.
    pub fn absorb(&self, spans: Vec<Span>, left_out: usize) {
        let mut kept = self
            .inner
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let room = MAX_SPANS.saturating_sub(kept.len());
        let over = spans.len().saturating_sub(room);
        kept.extend(spans.into_iter().take(room));
        self.inner.kept.store(kept.len(), Ordering::Relaxed);
        self.inner
            .dropped
            .fetch_add(left_out + over, Ordering::Relaxed);
    }

    /// The spans collected so far (sorted by start) and how many were left out.
    pub fn take(&self) -> (Vec<Span>, usize) {
        let spans = {
            let mut kept = self
                .inner
                .spans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.inner.kept.store(0, Ordering::Relaxed);
            std::mem::take(&mut *kept)
        };
        (by_start(spans), self.inner.dropped.load(Ordering::Relaxed))
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

/// `spans` sorted by start time, ties in the order given. The keys are
/// sorted, not the spans: a span is 72 bytes, and sorting 2,000 of them in
/// place moved each one a dozen times, most of what ending a load's run
/// cost.
fn by_start(spans: Vec<Span>) -> Vec<Span> {
    let mut order: Vec<(u64, usize)> = spans
        .iter()
        .enumerate()
        .map(|(index, span)| (span.start_us, index))
        .collect();
    order.sort_unstable();
    let mut slots: Vec<Option<Span>> = spans.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(_, index)| slots[index].take())
        .collect()
}

/// An RPC in progress on a timeline. Dropped without `end`, it is recorded as
/// unfinished (no end time, not ok).
#[derive(Debug)]
pub struct SpanHandle {
    timeline: Timeline,
    span: Span,
}

impl SpanHandle {
    /// Marks the first response message (once).
    pub fn first_message(&mut self) {
        if self.span.first_message_us.is_none() {
            self.span.first_message_us = Some(self.timeline.now_us());
        }
    }

    /// Marks the first response message at `at_us` on the timeline
    /// (see [`Timeline::offset_us`]), unless one is marked already.
    pub fn first_message_at(&mut self, at_us: u64) {
        self.span.first_message_us.get_or_insert(at_us);
    }

    /// Ends the span.
    pub fn end(mut self, ok: bool) {
        self.span.end_us = Some(self.timeline.now_us());
        self.span.ok = ok;
    }
}

impl Drop for SpanHandle {
    fn drop(&mut self) {
        let span = std::mem::replace(
            &mut self.span,
            Span {
                label: Label::Text(String::new()),
                start_us: 0,
                first_message_us: None,
                end_us: None,
                ok: false,
            },
        );
        self.timeline.push(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_labels_show_and_serialise_as_text() {
        for number in [0, 7, 12_345, u64::MAX] {
            let label = Label::Numbered("UnaryCall", number);
            assert_eq!(label.to_string(), format!("UnaryCall #{number}"));
            let json = serde_json::to_string(&label).expect("serialise");
            assert_eq!(json, format!("\"UnaryCall #{number}\""));
            let back: Label = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back.to_string(), label.to_string());
        }
    }

    #[test]
    fn keeps_the_first_spans_and_counts_the_rest() {
        let timeline = Timeline::new();
        for index in 0..MAX_SPANS + 25 {
            assert_eq!(timeline.is_full(), index >= MAX_SPANS);
            timeline.start(format!("#{index}")).end(true);
        }
        timeline.absorb(Vec::new(), 5);
        let (spans, dropped) = timeline.take();
        assert_eq!(spans.len(), MAX_SPANS);
        assert_eq!(dropped, 30);
        assert!(spans.iter().all(|span| span.ok && span.end_us.is_some()));
        // Taking empties the timeline: it keeps spans again.
        assert!(!timeline.is_full());
        timeline.start("after").end(false);
        let (spans, dropped) = timeline.take();
        assert_eq!(spans.len(), 1);
        assert_eq!(dropped, 30);
    }

    #[test]
    fn absorbed_spans_fill_what_is_left_and_the_rest_is_counted() {
        let timeline = Timeline::new();
        let span = |index: u64| Span {
            label: Label::Numbered("RPC", index),
            start_us: index,
            first_message_us: None,
            end_us: Some(index + 1),
            ok: true,
        };
        timeline.start("first").end(true);
        timeline.absorb((0..1_500).map(span).collect(), 7);
        timeline.absorb((1_500..2_100).map(span).collect(), 3);
        let (spans, dropped) = timeline.take();
        assert_eq!(spans.len(), MAX_SPANS);
        // 2,101 spans offered, 2,000 kept; 7 + 3 left out by the callers.
        assert_eq!(dropped, 101 + 10);
        let has = |number| spans.contains(&span(number));
        assert!(has(1_498) && !has(1_999));
    }

    #[test]
    fn spans_come_out_by_start_ties_in_the_order_kept() {
        let timeline = Timeline::new();
        let span = |label: &str, start_us: u64| Span {
            label: label.into(),
            start_us,
            first_message_us: None,
            end_us: None,
            ok: true,
        };
        timeline.absorb(vec![span("c", 30), span("a1", 10), span("b", 20)], 0);
        timeline.absorb(vec![span("a2", 10), span("d", 40), span("a3", 10)], 0);
        let (spans, _) = timeline.take();
        let labels: Vec<String> = spans.iter().map(|s| s.label.to_string()).collect();
        assert_eq!(labels, ["a1", "a2", "a3", "b", "c", "d"]);
    }

    #[test]
    fn concurrent_spans_are_all_accounted_for() {
        let timeline = Timeline::new();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let timeline = timeline.clone();
                scope.spawn(move || {
                    for index in 0..1_000 {
                        let span = timeline.start(format!("{thread}/{index}"));
                        drop(span); // unfinished spans count too
                    }
                });
            }
        });
        let (spans, dropped) = timeline.take();
        assert_eq!(spans.len(), MAX_SPANS);
        assert_eq!(spans.len() + dropped, 4_000);
        assert!(
            spans
                .windows(2)
                .all(|pair| pair[0].start_us <= pair[1].start_us)
        );
    }
}
