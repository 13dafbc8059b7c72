//! The typed extract: what the rules read.
//!
//! Ids are interned to small integers, events are sorted per case in the
//! section 5 order (occurred_at, bare date = 00:00, ties by event_id) and
//! sliced by case, and allocations are indexed by case and by worker, so a
//! rule is an ordered scan over one case's slice with a little state.

use crate::time::Moment;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use foldhash::HashMap;
use std::ops::Range;

/// The canonical event vocabulary (contract section 1). Rules name these.
pub const EVENT_TYPES: &[&str] = &[
    "cmm.compliance",
    "cmm.risk_review",
    "cmm.bail",
    "cmm.iss_review",
    "cmm.release",
    "cmm.reoffending",
    "cmm.significant_event",
    "cmm.minutes",
    "csc.mam",
    "compliance.unacceptable_failure",
    "compliance.unacceptable_behaviour",
    "compliance.acceptable_failure",
    "compliance.report",
    "assessment",
    "assessment.review",
    "plan.intervention_review",
    "plan.action_plan",
    "supervision",
    "case_discussion",
    "management_oversight",
    "coallocation.agreement",
    "coallocation.discussion",
    "court.first_appearance",
    "court.sentence",
    "bail.application",
    "custody.start",
    "custody.release",
    "oocd.panel",
    "contact",
    "meeting.initial",
    "meeting.joint_services",
    "meeting.three_way",
    "visit.next_steps",
    "transfer.agreed",
    "transfer.allocated",
    "transfer.request_out",
    "transfer.docs_received",
    "transfer.home_contacted",
    "caretaking.start",
    "caretaking.review",
    "caretaking.end",
    "transfer.full",
    "absence.case_review",
    "absence.reallocation_decision",
    "allocation.rationale",
];

/// An index into [`EVENT_TYPES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(pub u8);

impl EventType {
    pub fn named(name: &str) -> Option<EventType> {
        EVENT_TYPES.iter().position(|t| t.eq_ignore_ascii_case(name)).map(|i| EventType(i as u8))
    }

    pub fn name(self) -> &'static str {
        EVENT_TYPES[self.0 as usize]
    }
}

/// A set of event types (the vocabulary has fewer than 128 entries).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSet(u128);

impl EventSet {
    pub fn insert(&mut self, t: EventType) {
        self.0 |= 1 << t.0;
    }
    pub fn remove(&mut self, t: EventType) {
        self.0 &= !(1 << t.0);
    }
    pub fn contains(self, t: EventType) -> bool {
        self.0 & (1 << t.0) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn intersects(self, other: EventSet) -> bool {
        self.0 & other.0 != 0
    }
    pub fn union(self, other: EventSet) -> EventSet {
        EventSet(self.0 | other.0)
    }
    pub fn names(self) -> Vec<&'static str> {
        (0..EVENT_TYPES.len()).filter(|i| self.0 & (1 << i) != 0).map(|i| EVENT_TYPES[i]).collect()
    }
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub const NAMES: &'static [&'static str] = &[$($text),*];
            /// Case-insensitive match against the canonical word.
            pub fn parse(text: &str) -> Option<$name> {
                Self::NAMES.iter().position(|n| n.eq_ignore_ascii_case(text)).map(|i| Self::ALL[i])
            }
            pub fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }
        }
    };
}

vocabulary!(CaseType {
    Oocd = "oocd",
    ReferralOrder = "referral_order",
    Yro = "yro",
    Dto = "dto",
    Bail = "bail",
    Remand = "remand",
    MyFuture = "my_future",
    CrownCourtTracking = "crown_court_tracking",
    SpecificIntervention = "specific_intervention",
    Other = "other",
});

vocabulary!(StaffRole {
    Yjso = "yjso",
    CaseManager = "case_manager",
    SeniorCaseManager = "senior_case_manager",
    AdvancedPractitioner = "advanced_practitioner",
    TeamManager = "team_manager",
    InterventionWorker = "intervention_worker",
    Student = "student",
    NextStepsWorker = "next_steps_worker",
    Other = "other",
});

vocabulary!(AllocationRole {
    Primary = "primary",
    CoAllocated = "co_allocated",
    Paired = "paired",
    Student = "student",
});

vocabulary!(
    /// RoSH, SaW and LoR levels, in increasing order.
    Level {
        Low = "low",
        Medium = "medium",
        High = "high",
        VeryHigh = "very_high",
    }
);

vocabulary!(Gender { F = "F", M = "M", X = "X" });

vocabulary!(ContactMode {
    FaceToFace = "face_to_face",
    Phone = "phone",
    Virtual = "virtual",
});

vocabulary!(AbsenceKind { Planned = "planned", Unplanned = "unplanned" });

pub type CaseIdx = u32;
pub type WorkerIdx = u32;
pub type EventIdx = u32;

#[derive(Clone, Debug)]
pub struct Case {
    pub id: Box<str>,
    pub line: u32,
    pub child_id: Option<Box<str>>,
    pub initials: Option<Box<str>>,
    pub gender: Option<Gender>,
    pub team: Option<Box<str>>,
    pub case_type: CaseType,
    pub opened_on: NaiveDate,
    pub closed_on: Option<NaiveDate>,
    pub looked_after: Option<bool>,
    pub next_steps: Option<bool>,
    pub iss: Option<bool>,
}

impl Case {
    /// Whether two rows describe the same case (a wide export repeats it).
    pub fn same_as(&self, other: &Case) -> bool {
        (&self.id, &self.child_id, &self.initials, self.gender, &self.team, self.case_type, self.opened_on, self.closed_on)
            == (&other.id, &other.child_id, &other.initials, other.gender, &other.team, other.case_type, other.opened_on, other.closed_on)
            && (self.looked_after, self.next_steps, self.iss) == (other.looked_after, other.next_steps, other.iss)
    }

    /// The first moment after the case closed (exclusive end), if closed.
    pub fn closed_after(&self) -> Option<NaiveDateTime> {
        self.closed_on.map(end_of_day_exclusive)
    }
}

/// A worker seen anywhere in the extract; `staff` is set when staff.csv
/// described them.
#[derive(Clone, Debug)]
pub struct Worker {
    pub id: Box<str>,
    pub staff: Option<StaffRecord>,
}

#[derive(Clone, Debug)]
pub struct StaffRecord {
    pub line: u32,
    pub name: Option<Box<str>>,
    pub team: Option<Box<str>>,
    pub role: StaffRole,
    pub gender: Option<Gender>,
    pub manager_id: Option<Box<str>>,
    pub buddy_id: Option<Box<str>>,
    pub started_on: Option<NaiveDate>,
    pub left_on: Option<NaiveDate>,
}

#[derive(Clone, Debug)]
pub struct Allocation {
    pub line: u32,
    pub case: CaseIdx,
    pub worker: WorkerIdx,
    pub role: AllocationRole,
    pub from: Moment,
    pub to: Option<Moment>,
    /// Earlier rows giving this case to this worker from the same moment (0
    /// for the first): such rows start separate clocks, and their findings
    /// need ids of their own.
    pub repeat: u32,
}

impl Allocation {
    /// Start on the local clock (a bare date = 00:00 that day).
    pub fn start(&self) -> NaiveDateTime {
        self.from.at()
    }

    /// Exclusive end: a bare `to` ends with its day; None = current.
    pub fn end(&self) -> Option<NaiveDateTime> {
        self.to.map(|to| if to.bare() { end_of_day_exclusive(to.date()) } else { to.at() })
    }

    /// An allocation ending at or before its start holds nothing.
    pub fn holds_anything(&self) -> bool {
        self.end().is_none_or(|end| end > self.start())
    }

    /// Whether the allocation is current at a local moment.
    pub fn is_current_at(&self, at: NaiveDateTime) -> bool {
        self.start() <= at && self.end().is_none_or(|end| at < end)
    }
}

/// Many short strings in one buffer: a national extract's 20 million event
/// ids as one allocation rather than 20 million.
#[derive(Clone, Debug, Default)]
pub struct Texts {
    text: String,
    ends: Vec<u64>,
}

/// A string kept in [`Texts`]. Deliberately not ordered: its number is
/// where it was read, not its place in byte order (events sort by `rank`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TextRef(u32);

impl Texts {
    /// Room for `count` strings of `bytes` in all, reserved up front: a
    /// national extract's event ids grown step by step were moved to fresh
    /// memory at every doubling (room not used costs address space only).
    pub fn with_capacity(count: usize, bytes: usize) -> Texts {
        Texts { text: String::with_capacity(bytes), ends: Vec::with_capacity(count) }
    }

    /// Stores `text`.
    pub fn push(&mut self, text: &str) -> TextRef {
        self.text.push_str(text);
        self.ends.push(self.text.len() as u64);
        TextRef(self.ends.len() as u32 - 1)
    }

    pub fn get(&self, text: TextRef) -> &str {
        self.nth(text.0)
    }

    /// Where `text` lies in the store (for [`Texts::at`]): a lookup that
    /// reads only the table of ends, so a loop making many of them has the
    /// cache misses of all in flight at once.
    pub fn place(&self, text: TextRef) -> std::ops::Range<usize> {
        self.place_of_nth(text.0)
    }

    /// Where the `n`th string stored lies (see [`Texts::place`]).
    pub fn place_of_nth(&self, n: u32) -> std::ops::Range<usize> {
        let i = n as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        start..self.ends[i] as usize
    }

    /// The text at a [`Texts::place`].
    pub fn at(&self, place: std::ops::Range<usize>) -> &str {
        &self.text[place]
    }

    /// The `n`th string stored (counting from 0).
    pub fn nth(&self, n: u32) -> &str {
        let i = n as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

#[derive(Clone, Debug)]
pub struct Event {
    /// The event_id, kept in [`Extract::event_ids`] (order events by `rank`).
    pub id: TextRef,
    /// Place of `id` in the byte order of all event ids (sorting by it is
    /// sorting by id).
    pub rank: u32,
    pub line: u32,
    pub case: Option<CaseIdx>,
    pub worker: Option<WorkerIdx>,
    pub kind: EventType,
    pub occurred: Moment,
    pub recorded: Option<Moment>,
    pub rosh: Option<Level>,
    pub saw: Option<Level>,
    pub lor: Option<Level>,
    pub mode: Option<ContactMode>,
    pub psr: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct Absence {
    pub line: u32,
    pub worker: WorkerIdx,
    pub kind: AbsenceKind,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub cover_recorded_at: Option<Moment>,
    /// Earlier rows of the same worker's absence of this kind over the same
    /// days (0 for the first; see [`Allocation::repeat`]).
    pub repeat: u32,
}

/// Which optional files the extract had: rules needing an absent one are
/// "not assessed", never met.
#[derive(Clone, Copy, Debug, Default)]
pub struct FilesPresent {
    pub staff: bool,
    pub allocations: bool,
    pub absences: bool,
}

/// The whole extract, typed and indexed.
#[derive(Debug, Default)]
pub struct Extract {
    pub cases: Vec<Case>,
    pub workers: Vec<Worker>,
    /// Case events first, grouped by case in section 5 order; then events
    /// with no case.
    pub events: Vec<Event>,
    pub case_events: Vec<Range<u32>>,
    /// Every event naming a worker, grouped by worker in section 5 order.
    pub worker_event_order: Vec<EventIdx>,
    pub worker_events: Vec<Range<u32>>,
    /// Allocations grouped by case, by start.
    pub allocations: Vec<Allocation>,
    pub case_allocations: Vec<Range<u32>>,
    pub worker_allocation_order: Vec<u32>,
    pub worker_allocations: Vec<Range<u32>>,
    /// Absences grouped by worker.
    pub absences: Vec<Absence>,
    pub worker_absences: Vec<Range<u32>>,
    pub present: FilesPresent,
    pub worker_index: HashMap<Box<str>, WorkerIdx>,
    /// Place of each case's and worker's id in byte order.
    pub case_rank: Vec<u32>,
    pub worker_rank: Vec<u32>,
    /// The name events are reported under (for tracing a finding to its line).
    pub events_file: String,
    /// The names allocations and absences are reported under.
    pub allocations_file: String,
    pub absences_file: String,
    /// Every event row's event_id, by [`Event::id`].
    pub event_ids: Texts,
}

impl Extract {
    /// An event's event_id.
    pub fn event_id(&self, event: &Event) -> &str {
        self.event_ids.get(event.id)
    }

    pub fn events_of_case(&self, case: CaseIdx) -> &[Event] {
        let r = &self.case_events[case as usize];
        &self.events[r.start as usize..r.end as usize]
    }

    /// Events with no case (worker-level records).
    pub fn events_without_case(&self) -> &[Event] {
        let start = self.case_events.last().map_or(0, |r| r.end) as usize;
        &self.events[start..]
    }

    /// Where an allocation borrowed from this extract sits in `allocations`.
    pub fn allocation_index(&self, allocation: &Allocation) -> u32 {
        index_in(&self.allocations, allocation)
    }

    /// Where an absence borrowed from this extract sits in `absences`.
    pub fn absence_index(&self, absence: &Absence) -> u32 {
        index_in(&self.absences, absence)
    }

    pub fn allocations_of_case(&self, case: CaseIdx) -> &[Allocation] {
        let r = &self.case_allocations[case as usize];
        &self.allocations[r.start as usize..r.end as usize]
    }

    pub fn allocations_of_worker(&self, worker: WorkerIdx) -> impl Iterator<Item = &Allocation> {
        let r = &self.worker_allocations[worker as usize];
        self.worker_allocation_order[r.start as usize..r.end as usize].iter().map(|&i| &self.allocations[i as usize])
    }

    pub fn absences_of_worker(&self, worker: WorkerIdx) -> &[Absence] {
        let r = &self.worker_absences[worker as usize];
        &self.absences[r.start as usize..r.end as usize]
    }

    pub fn staff(&self, worker: WorkerIdx) -> Option<&StaffRecord> {
        self.workers[worker as usize].staff.as_ref()
    }

    /// The primary worker holding a case at a local moment (contract section
    /// 5): the current primary with the latest start, then the lowest id;
    /// none current: the one that ended most recently before; else none.
    pub fn primary_at(&self, case: CaseIdx, at: NaiveDateTime) -> Option<WorkerIdx> {
        self.primary_current_at(case, at).or_else(|| {
            self.primaries_started_by(case, at)
                .filter_map(|a| a.end().map(|end| (end, a)))
                .max_by(|(ea, a), (eb, b)| ea.cmp(eb).then(a.start().cmp(&b.start())).then_with(|| self.lower_id_first(a, b)))
                .map(|(_, a)| a.worker)
        })
    }

    /// The primary current at a moment, if any (latest start, lowest id).
    pub fn primary_current_at(&self, case: CaseIdx, at: NaiveDateTime) -> Option<WorkerIdx> {
        self.primaries_started_by(case, at)
            .filter(|a| a.is_current_at(at))
            .max_by(|a, b| a.start().cmp(&b.start()).then_with(|| self.lower_id_first(a, b)))
            .map(|a| a.worker)
    }

    fn primaries_started_by(&self, case: CaseIdx, at: NaiveDateTime) -> impl Iterator<Item = &Allocation> {
        self.allocations_of_case(case).iter().filter(move |a| a.role == AllocationRole::Primary && a.holds_anything() && a.start() <= at)
    }

    /// Orders so that `max_by` prefers the lower worker id on a tie.
    fn lower_id_first(&self, a: &Allocation, b: &Allocation) -> std::cmp::Ordering {
        self.workers[b.worker as usize].id.cmp(&self.workers[a.worker as usize].id)
    }
}

/// The index of `item`, which must be borrowed from `items`.
fn index_in<T>(items: &[T], item: &T) -> u32 {
    let offset = std::ptr::from_ref(item).addr().wrapping_sub(items.as_ptr().addr());
    let index = offset / std::mem::size_of::<T>().max(1);
    assert!(index < items.len(), "an item of this list");
    index as u32
}

/// 00:00 on the day after `date`: the exclusive end of "the end of that day".
pub fn end_of_day_exclusive(date: NaiveDate) -> NaiveDateTime {
    date.succ_opt().unwrap_or(date).and_time(NaiveTime::MIN)
}

/// `items` reordered so that position k holds the item that was at
/// `order[k]`: read in parallel into a second buffer, which is several
/// times faster than following the cycles (the reads are independent) at
/// the cost of the memory of a second copy while it runs.
///
/// Panics unless `order` is a permutation of `0..items.len()`.
pub fn gather<T: Send + Sync>(mut items: Vec<T>, order: &[u32]) -> Vec<T> {
    use rayon::prelude::*;
    let n = items.len();
    assert_eq!(order.len(), n, "a permutation");
    let mut seen = vec![false; n];
    for &i in order {
        assert!(!std::mem::replace(&mut seen[i as usize], true), "a permutation");
    }
    drop(seen);
    let mut moved: Vec<std::mem::MaybeUninit<T>> = Vec::with_capacity(n);
    // SAFETY: the capacity is n, and every slot is written below before use.
    unsafe { moved.set_len(n) };
    {
        struct Source<T>(*const T);
        // SAFETY: only read, each item by exactly one task (order is a permutation).
        unsafe impl<T: Send> Sync for Source<T> {}
        unsafe impl<T: Send> Send for Source<T> {}
        let source = Source(items.as_ptr());
        let source = &source;
        moved.par_chunks_mut(1 << 16).zip(order.par_chunks(1 << 16)).for_each(|(slots, indices)| {
            for (slot, &i) in slots.iter_mut().zip(indices) {
                // SAFETY: i < n, and each item is moved out exactly once.
                slot.write(unsafe { std::ptr::read(source.0.add(i as usize)) });
            }
        });
    }
    // SAFETY: every item was moved out above; the buffer is freed without
    // dropping them again.
    unsafe { items.set_len(0) };
    drop(items);
    // SAFETY: all n slots were written; MaybeUninit<T> has T's layout.
    let mut moved = std::mem::ManuallyDrop::new(moved);
    unsafe { Vec::from_raw_parts(moved.as_mut_ptr() as *mut T, n, moved.capacity()) }
}

/// Reorders `items` so that position k holds the item that was at
/// `order[k]`, following the permutation's cycles (no second copy).
pub fn apply_order<T>(items: &mut [T], mut order: Vec<u32>) {
    for i in 0..order.len() {
        let mut current = i;
        while order[current] as usize != i {
            let next = order[current] as usize;
            items.swap(current, next);
            order[current] = current as u32;
            current = next;
        }
        order[current] = current as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_and_apply_order_agree_and_move_every_item_once() {
        let items: Vec<String> = (0..200_000).map(|i| format!("item {i}")).collect();
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        // A fixed shuffle: multiplying by a number coprime with the length.
        for (k, slot) in order.iter_mut().enumerate() {
            *slot = ((k as u64 * 7919) % 200_000) as u32;
        }
        let mut in_place = items.clone();
        apply_order(&mut in_place, order.clone());
        let gathered = gather(items.clone(), &order);
        assert_eq!(gathered, in_place);
        assert_eq!(gathered[1], items[7919]);
    }

    #[test]
    #[should_panic(expected = "a permutation")]
    fn gather_refuses_an_order_that_is_not_a_permutation() {
        gather(vec![String::from("a"), String::from("b")], &[0, 0]);
    }

    #[test]
    fn texts_keep_each_string() {
        let mut texts = Texts::default();
        let ids: Vec<TextRef> = ["E1", "", "événement-2", "E3"].iter().map(|t| texts.push(t)).collect();
        assert_eq!(ids.iter().map(|&id| texts.get(id)).collect::<Vec<_>>(), ["E1", "", "événement-2", "E3"]);
        assert_eq!((texts.nth(0), texts.nth(2)), ("E1", "événement-2"));
    }
}
