//! The consumer: the Rust consumer's calls, blocking without the GIL, and
//! its records made into kafka-python's `ConsumerRecord` tuples (through
//! the deserializers, in the polling thread).

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrokafka_consumer::offsets::OffsetAndMetadata;
use ferrokafka_consumer::{
    ConsumeError, ConsumerConfig, ConsumerRecord, RebalanceContext, RebalanceListener,
    TopicPartition,
};
use ferrokafka_records::TimestampType;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::errors;
use crate::producer::topic_partition;
use crate::{millis, wait_done};

/// A partition as Python passes it: `TopicPartition` is a `(topic,
/// partition)` tuple.
type Partition = (String, i32);

/// An offset to commit as Python passes it: `(topic, partition, offset,
/// metadata, leader_epoch)`.
pub(crate) type Commit = (String, i32, i64, Option<String>, Option<i32>);

/// `(group_id, generation_id, member_id, group_instance_id)`.
type GroupMetadata = (String, i32, String, Option<String>);

fn partitions(list: Vec<Partition>) -> Vec<TopicPartition> {
    list.into_iter()
        .map(|(topic, partition)| TopicPartition::new(topic, partition))
        .collect()
}

fn commits(list: Vec<Commit>) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
    list.into_iter()
        .map(|(topic, partition, offset, metadata, epoch)| {
            (
                TopicPartition::new(topic, partition),
                OffsetAndMetadata {
                    offset,
                    leader_epoch: epoch.filter(|e| *e >= 0),
                    metadata: metadata.unwrap_or_default(),
                },
            )
        })
        .collect()
}

/// `ferrokafka.structs` classes the consumer makes.
struct Structs {
    consumer_record: Py<PyAny>,
    offset_and_metadata: Py<PyAny>,
    offset_and_timestamp: Py<PyAny>,
    /// `tuple.__new__`, to make a namedtuple from a tuple without running
    /// the class's Python `__new__`.
    tuple_new: Py<PyAny>,
}

fn structs(py: Python<'_>) -> PyResult<&'static Structs> {
    static STRUCTS: PyOnceLock<Structs> = PyOnceLock::new();
    STRUCTS.get_or_try_init(py, || {
        let module = py.import("ferrokafka.structs")?;
        Ok(Structs {
            consumer_record: module.getattr("ConsumerRecord")?.unbind(),
            offset_and_metadata: module.getattr("OffsetAndMetadata")?.unbind(),
            offset_and_timestamp: module.getattr("OffsetAndTimestamp")?.unbind(),
            tuple_new: py.get_type::<PyTuple>().getattr("__new__")?.unbind(),
        })
    })
}

/// A key or value deserializer: `(function, takes_topic_and_headers)`.
type Deserializer = Option<(Py<PyAny>, bool)>;

fn deserialize<'py>(
    py: Python<'py>,
    deserializer: &Deserializer,
    topic: &Bound<'py, PyString>,
    headers: &Bound<'py, PyList>,
    data: Option<&bytes::Bytes>,
) -> PyResult<Bound<'py, PyAny>> {
    let raw = match data {
        Some(data) => PyBytes::new(py, data).into_any(),
        None => py.None().into_bound(py),
    };
    match deserializer {
        None => Ok(raw),
        Some((function, false)) => function.bind(py).call1((raw,)),
        Some((function, true)) => function.bind(py).call1((topic, headers, raw)),
    }
}

/// The Python objects every record of one partition's run shares.
struct PartitionObjects<'py> {
    topic_name: Arc<str>,
    partition: i32,
    topic: Bound<'py, PyString>,
    partition_int: Bound<'py, PyAny>,
}

/// Makes kafka-python's `ConsumerRecord` tuples of one poll. Building the
/// record is the per-record cost of consuming from Python, so what records
/// share is made once: the topic string and partition int once per run of
/// one partition's records, the leader epoch once per run of one epoch,
/// and a timestamp equal to the previous record's (a batch's records
/// mostly share a millisecond) reuses that record's int.
struct RecordMaker<'py> {
    py: Python<'py>,
    /// `tuple.__new__` and the `ConsumerRecord` class, bound once.
    tuple_new: Bound<'py, PyAny>,
    record_type: Bound<'py, PyAny>,
    none: Bound<'py, PyAny>,
    current: Option<PartitionObjects<'py>>,
    leader_epoch: Option<(i32, Bound<'py, PyAny>)>,
    timestamp: Option<(i64, Bound<'py, PyAny>)>,
}

/// [`PartitionObjects`] kept between records (without the GIL).
struct KeptPartition {
    topic_name: Arc<str>,
    partition: i32,
    topic: Py<PyString>,
    partition_int: Py<PyAny>,
}

/// What a [`RecordMaker`] keeps from one record to the next, kept by a
/// [`Held`] between the records it hands out one at a time.
#[derive(Default)]
struct MakerState {
    partition: Option<KeptPartition>,
    leader_epoch: Option<(i32, Py<PyAny>)>,
    timestamp: Option<(i64, Py<PyAny>)>,
}

impl<'py> RecordMaker<'py> {
    fn new(py: Python<'py>) -> PyResult<Self> {
        Self::from_state(py, MakerState::default())
    }

    fn from_state(py: Python<'py>, state: MakerState) -> PyResult<Self> {
        let structs = structs(py)?;
        Ok(RecordMaker {
            py,
            tuple_new: structs.tuple_new.bind(py).clone(),
            record_type: structs.consumer_record.bind(py).clone(),
            none: py.None().into_bound(py),
            current: state.partition.map(|kept| PartitionObjects {
                topic_name: kept.topic_name,
                partition: kept.partition,
                topic: kept.topic.into_bound(py),
                partition_int: kept.partition_int.into_bound(py),
            }),
            leader_epoch: state.leader_epoch.map(|(e, int)| (e, int.into_bound(py))),
            timestamp: state.timestamp.map(|(t, int)| (t, int.into_bound(py))),
        })
    }

    fn into_state(self) -> MakerState {
        MakerState {
            partition: self.current.map(|c| KeptPartition {
                topic_name: c.topic_name,
                partition: c.partition,
                topic: c.topic.unbind(),
                partition_int: c.partition_int.unbind(),
            }),
            leader_epoch: self.leader_epoch.map(|(e, int)| (e, int.unbind())),
            timestamp: self.timestamp.map(|(t, int)| (t, int.unbind())),
        }
    }

    /// The shared objects of `record`'s partition; `true` when it starts
    /// a new run (another partition than the record before).
    fn partition(&mut self, record: &ConsumerRecord) -> PyResult<bool> {
        let same = self.current.as_ref().is_some_and(|c| {
            c.partition == record.partition
                && (Arc::ptr_eq(&c.topic_name, &record.topic) || c.topic_name == record.topic)
        });
        if !same {
            self.current = Some(PartitionObjects {
                topic_name: Arc::clone(&record.topic),
                partition: record.partition,
                topic: PyString::new(self.py, &record.topic),
                partition_int: record.partition.into_pyobject(self.py)?.into_any(),
            });
        }
        Ok(!same)
    }

    fn topic(&self) -> &Bound<'py, PyString> {
        &self
            .current
            .as_ref()
            .expect("partition() runs before each record")
            .topic
    }

    fn leader_epoch(&mut self, epoch: i32) -> PyResult<Bound<'py, PyAny>> {
        match &self.leader_epoch {
            Some((cached, int)) if *cached == epoch => Ok(int.clone()),
            _ => {
                let int = epoch.into_pyobject(self.py)?.into_any();
                self.leader_epoch = Some((epoch, int.clone()));
                Ok(int)
            }
        }
    }

    fn timestamp(&mut self, timestamp: i64) -> PyResult<Bound<'py, PyAny>> {
        match &self.timestamp {
            Some((cached, int)) if *cached == timestamp => Ok(int.clone()),
            _ => {
                let int = timestamp.into_pyobject(self.py)?.into_any();
                self.timestamp = Some((timestamp, int.clone()));
                Ok(int)
            }
        }
    }

    /// One record as kafka-python's `ConsumerRecord` (after
    /// [`RecordMaker::partition`] for it).
    fn record(
        &mut self,
        record: &ConsumerRecord,
        key_deserializer: &Deserializer,
        value_deserializer: &Deserializer,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let headers = PyList::empty(py);
        let mut header_size: i64 = -1;
        for header in &record.headers {
            let key = String::from_utf8_lossy(&header.key);
            let value = header.value.as_ref().map(|v| PyBytes::new(py, v));
            header_size = header_size.max(0)
                + i64::try_from(key.len() + header.value.as_ref().map_or(0, bytes::Bytes::len))
                    .unwrap_or(i64::MAX);
            headers.append((key, value))?;
        }
        let topic = self.topic().clone();
        let key = deserialize(py, key_deserializer, &topic, &headers, record.key.as_ref())?;
        let value = deserialize(
            py,
            value_deserializer,
            &topic,
            &headers,
            record.value.as_ref(),
        )?;
        let timestamp_type: i32 = match record.timestamp_type {
            TimestampType::LogAppendTime => 1,
            _ => 0,
        };
        let partition = self
            .current
            .as_ref()
            .expect("partition() runs before each record")
            .partition_int
            .clone();
        let fields = PyTuple::new(
            py,
            [
                topic.into_any(),
                partition,
                self.leader_epoch(record.leader_epoch.unwrap_or(-1))?,
                record.offset.into_pyobject(py)?.into_any(),
                self.timestamp(record.timestamp)?,
                timestamp_type.into_pyobject(py)?.into_any(),
                key,
                value,
                headers.into_any(),
                self.none.clone(),
                record.serialized_key_size().into_pyobject(py)?.into_any(),
                record.serialized_value_size().into_pyobject(py)?.into_any(),
                header_size.into_pyobject(py)?.into_any(),
            ],
        )?;
        self.tuple_new.call1((&self.record_type, fields))
    }
}

/// The records as `{TopicPartition: [ConsumerRecord]}` (`grouped`) or as
/// one list in fetch order.
fn python_records<'py>(
    py: Python<'py>,
    records: &[ConsumerRecord],
    key_deserializer: &Deserializer,
    value_deserializer: &Deserializer,
    grouped: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mut maker = RecordMaker::new(py)?;
    let flat = PyList::empty(py);
    let by_partition = PyDict::new(py);
    let mut list = flat.clone();
    for record in records {
        if maker.partition(record)? && grouped {
            let tp = topic_partition(py, &record.topic, record.partition)?;
            list = if let Some(list) = by_partition.get_item(&tp)? {
                list.cast_into::<PyList>()?
            } else {
                let list = PyList::empty(py);
                by_partition.set_item(&tp, &list)?;
                list
            };
        }
        list.append(maker.record(record, key_deserializer, value_deserializer)?)?;
    }
    Ok(if grouped {
        by_partition.into_any()
    } else {
        flat.into_any()
    })
}

/// A Python `ConsumerRebalanceListener`, run through the Python
/// consumer's `_run_listener(kind, partitions, positions)`, which returns
/// what the listener asked of the consumer: `(seeks, commits,
/// commit_positions)`.
struct PythonListener {
    /// A `weakref.WeakMethod` of the Python consumer's `_run_listener`.
    run: Py<PyAny>,
}

type ListenerRequests = (Vec<(String, i32, i64)>, Vec<Commit>, bool);

impl PythonListener {
    fn call(&self, kind: &str, context: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        let requests = Python::attach(|py| -> PyResult<Option<ListenerRequests>> {
            let run = self.run.bind(py).call0()?;
            if run.is_none() {
                return Ok(None);
            }
            let list = PyList::empty(py);
            let positions = PyDict::new(py);
            for tp in partitions {
                let key = topic_partition(py, &tp.topic, tp.partition)?;
                if let Some(position) = context.position(tp) {
                    positions.set_item(&key, position)?;
                }
                list.append(key)?;
            }
            run.call1((kind, list, positions))?.extract().map(Some)
        });
        let (seeks, commits_asked, commit_positions) = match requests {
            Ok(Some(requests)) => requests,
            Ok(None) => return,
            Err(error) => {
                Python::attach(|py| error.print(py));
                return;
            }
        };
        for (topic, partition, offset) in seeks {
            // A seek of a partition not assigned is refused, as the Python
            // consumer's seek would be.
            let _ = context.seek(&TopicPartition::new(topic, partition), offset);
        }
        for (tp, offset) in commits(commits_asked) {
            context.commit(tp, offset);
        }
        if commit_positions {
            context.commit_positions(partitions);
        }
    }
}

impl RebalanceListener for PythonListener {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.call("revoked", consumer, partitions);
    }

    fn on_partitions_assigned(
        &mut self,
        consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.call("assigned", consumer, partitions);
    }

    fn on_partitions_lost(
        &mut self,
        consumer: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.call("lost", consumer, partitions);
    }
}

fn listener(run: Option<Py<PyAny>>) -> Option<Box<dyn RebalanceListener>> {
    run.map(|run| Box::new(PythonListener { run }) as Box<dyn RebalanceListener>)
}

/// The outcome of a `poll_then`: the records (or the error), made Python
/// objects in the thread that asks for them.
#[pyclass(module = "ferrokafka._core", frozen)]
pub(crate) struct Polled {
    result: std::sync::Mutex<Option<Result<Vec<ConsumerRecord>, ConsumeError>>>,
}

#[pymethods]
impl Polled {
    /// The records through the deserializers (`{TopicPartition:
    /// [ConsumerRecord]}` when `grouped`, else a list), or raises the
    /// poll's error. Only once.
    #[allow(clippy::needless_pass_by_value)]
    fn records<'py>(
        &self,
        py: Python<'py>,
        key_deserializer: Deserializer,
        value_deserializer: Deserializer,
        grouped: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let taken = self
            .result
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| Ok(Vec::new()));
        let records = Consumer::fail(py, taken)?;
        python_records(
            py,
            &records,
            &key_deserializer,
            &value_deserializer,
            grouped,
        )
    }
}

/// A held record: a Python `ConsumerRecord` already (given to `extend`),
/// or the Rust record as fetched (by `Consumer.poll_into`), made a Python
/// record only when handed out. Making it then, not at the fetch, keeps a
/// few records alive at a time instead of a whole poll's: the garbage
/// collector's young generation stays small (it traversed every held
/// record tuple again and again) and the allocator reuses warm memory.
enum HeldRecord {
    Made(Py<PyAny>),
    Fetched(ConsumerRecord),
}

/// Records the Python consumer fetched and did not hand out yet (its
/// `_records`): a deque with the few methods the consumer uses, which a
/// [`HeldIterator`] pops without a Python frame per record.
#[pyclass(module = "ferrokafka._core", frozen)]
#[derive(Default)]
pub(crate) struct Held {
    records: std::sync::Mutex<std::collections::VecDeque<HeldRecord>>,
    /// The deserializers of the fetched records (`poll_into` sets them).
    deserializers: std::sync::Mutex<(Deserializer, Deserializer)>,
    /// Shared objects from the record made before (see [`RecordMaker`]).
    maker: std::sync::Mutex<MakerState>,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Held {
    fn records(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<HeldRecord>> {
        lock(&self.records)
    }

    /// The oldest record as a Python record, taken out.
    fn pop(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let popped = self.records().pop_front();
        match popped {
            None => Ok(None),
            Some(HeldRecord::Made(record)) => Ok(Some(record)),
            Some(HeldRecord::Fetched(record)) => self.make(py, &record).map(Some),
        }
    }

    /// `record` as a Python record. No lock is held while the deserializers
    /// run (they may call the consumer).
    fn make(&self, py: Python<'_>, record: &ConsumerRecord) -> PyResult<Py<PyAny>> {
        let (key_deserializer, value_deserializer) = {
            let deserializers = lock(&self.deserializers);
            let copy = |d: &Deserializer| d.as_ref().map(|(f, t)| (f.clone_ref(py), *t));
            (copy(&deserializers.0), copy(&deserializers.1))
        };
        let state = std::mem::take(&mut *lock(&self.maker));
        let mut maker = RecordMaker::from_state(py, state)?;
        let made = maker
            .partition(record)
            .and_then(|_| maker.record(record, &key_deserializer, &value_deserializer));
        *lock(&self.maker) = maker.into_state();
        made.map(Bound::unbind)
    }

    /// The topic, partition and offset of a held record.
    fn position_of(py: Python<'_>, record: &HeldRecord) -> PyResult<(String, i32, i64)> {
        match record {
            HeldRecord::Fetched(r) => Ok((r.topic.to_string(), r.partition, r.offset)),
            HeldRecord::Made(r) => {
                let r = r.bind(py);
                Ok((
                    r.getattr("topic")?.extract()?,
                    r.getattr("partition")?.extract()?,
                    r.getattr("offset")?.extract()?,
                ))
            }
        }
    }
}

#[pymethods]
impl Held {
    #[new]
    fn new() -> Self {
        Held::default()
    }

    fn __len__(&self) -> usize {
        self.records().len()
    }

    fn __bool__(&self) -> bool {
        !self.records().is_empty()
    }

    /// The oldest record, taken out; `IndexError` when there is none.
    fn popleft(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.pop(py)?
            .ok_or_else(|| pyo3::exceptions::PyIndexError::new_err("pop from an empty deque"))
    }

    /// Appends every record of `records` (an iterable).
    fn extend(&self, records: &Bound<'_, PyAny>) -> PyResult<()> {
        let items: Vec<HeldRecord> = if let Ok(list) = records.cast::<PyList>() {
            list.iter().map(|r| HeldRecord::Made(r.unbind())).collect()
        } else {
            records
                .try_iter()?
                .map(|item| item.map(|r| HeldRecord::Made(r.unbind())))
                .collect::<PyResult<_>>()?
        };
        self.records().extend(items);
        Ok(())
    }

    fn clear(&self) {
        // Dropped after the lock is released.
        let dropped = std::mem::take(&mut *self.records());
        drop(dropped);
    }

    /// The offset of the oldest held record of this partition, if any.
    fn first_offset(&self, py: Python<'_>, topic: &str, partition: i32) -> PyResult<Option<i64>> {
        let held = std::mem::take(&mut *self.records());
        let mut found = Ok(None);
        for record in &held {
            match Self::position_of(py, record) {
                Ok((t, p, offset)) if t == topic && p == partition => {
                    found = Ok(Some(offset));
                    break;
                }
                Ok(_) => {}
                Err(error) => {
                    found = Err(error);
                    break;
                }
            }
        }
        self.put_back(held);
        found
    }

    /// Drops the held records of these partitions.
    #[allow(clippy::needless_pass_by_value)]
    fn drop_partitions(&self, py: Python<'_>, partitions: Vec<Partition>) -> PyResult<()> {
        let held = std::mem::take(&mut *self.records());
        let mut kept = std::collections::VecDeque::with_capacity(held.len());
        let mut outcome = Ok(());
        for record in held {
            match Self::position_of(py, &record) {
                Ok((t, p, _)) if partitions.iter().any(|(pt, pp)| *pt == t && *pp == p) => {}
                Ok(_) => kept.push_back(record),
                Err(error) => {
                    outcome = Err(error);
                    kept.push_back(record);
                }
            }
        }
        self.put_back(kept);
        outcome
    }

    /// Iterates over a snapshot of the records (oldest first), making the
    /// fetched ones Python records (in place).
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let held = std::mem::take(&mut *self.records());
        let mut made = std::collections::VecDeque::with_capacity(held.len());
        let mut outcome = Ok(());
        for record in held {
            match record {
                HeldRecord::Fetched(r) if outcome.is_ok() => match self.make(py, &r) {
                    Ok(m) => made.push_back(HeldRecord::Made(m)),
                    Err(error) => {
                        outcome = Err(error);
                        made.push_back(HeldRecord::Fetched(r));
                    }
                },
                other => made.push_back(other),
            }
        }
        let snapshot: Vec<Py<PyAny>> = made
            .iter()
            .filter_map(|r| match r {
                HeldRecord::Made(m) => Some(m.clone_ref(py)),
                HeldRecord::Fetched(_) => None,
            })
            .collect();
        self.put_back(made);
        outcome?;
        PyList::new(py, snapshot)?
            .into_any()
            .try_iter()
            .map(Bound::into_any)
    }
}

impl Held {
    /// Puts `records` back in front of any appended while they were out.
    fn put_back(&self, records: std::collections::VecDeque<HeldRecord>) {
        let mut held = self.records();
        let later = std::mem::replace(&mut *held, records);
        held.extend(later);
    }
}

/// `for record in consumer`: pops the consumer's [`Held`] records and calls
/// `refill()` (the consumer's, which polls into them) when there are none;
/// iteration stops when `refill` returns false (`consumer_timeout_ms`).
#[pyclass(module = "ferrokafka._core", frozen)]
pub(crate) struct HeldIterator {
    held: Py<Held>,
    refill: Py<PyAny>,
}

#[pymethods]
impl HeldIterator {
    #[new]
    fn new(held: Py<Held>, refill: Py<PyAny>) -> Self {
        HeldIterator { held, refill }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(record) = self.held.get().pop(py)? {
                return Ok(Some(record));
            }
            if !self.refill.bind(py).call0()?.is_truthy()? {
                return Ok(None);
            }
        }
    }
}

/// The Rust consumer under `ferrokafka.KafkaConsumer`.
#[pyclass(module = "ferrokafka._core", frozen)]
pub(crate) struct Consumer {
    consumer: Arc<ferrokafka_consumer::Consumer>,
}

impl Consumer {
    fn fail<T>(py: Python<'_>, result: Result<T, ConsumeError>) -> PyResult<T> {
        result.map_err(|error| errors::consume_error(py, &error))
    }

    fn offsets_dict(
        py: Python<'_>,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> PyResult<Bound<'_, PyDict>> {
        let dict = PyDict::new(py);
        for (tp, offset) in offsets {
            dict.set_item(topic_partition(py, &tp.topic, tp.partition)?, offset)?;
        }
        Ok(dict)
    }
}

#[pymethods]
impl Consumer {
    /// Connects with these settings (kafka-python key names, values as
    /// strings).
    #[new]
    fn new(py: Python<'_>, settings: Vec<(String, String)>) -> PyResult<Self> {
        let config =
            ConsumerConfig::from_pairs(settings).map_err(|error| errors::config_error(&error))?;
        let consumer = wait_done(py, ferrokafka_consumer::Consumer::new(config))?;
        Ok(Consumer {
            consumer: Arc::new(Self::fail(py, consumer)?),
        })
    }

    /// Joins the group for these topics; `listener` is the weak
    /// `_run_listener` of the Python consumer when it has a listener.
    #[pyo3(signature = (topics, listener=None))]
    #[allow(clippy::needless_pass_by_value)]
    fn subscribe(
        &self,
        py: Python<'_>,
        topics: Vec<String>,
        listener: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let done = wait_done(
            py,
            self.consumer
                .subscribe_with(&names, self::listener(listener)),
        )?;
        Self::fail(py, done)
    }

    /// Joins the group for every topic whose whole name matches `pattern`.
    #[pyo3(signature = (pattern, listener=None))]
    fn subscribe_pattern(
        &self,
        py: Python<'_>,
        pattern: &str,
        listener: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let done = wait_done(
            py,
            self.consumer
                .subscribe_pattern(pattern, self::listener(listener)),
        )?;
        Self::fail(py, done)
    }

    /// Leaves the group, or drops the assignment.
    fn unsubscribe(&self, py: Python<'_>) -> PyResult<()> {
        wait_done(py, self.consumer.unsubscribe())
    }

    /// The subscribed topics.
    fn subscription(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        wait_done(py, self.consumer.subscription())
    }

    /// Consumes exactly these partitions.
    #[allow(clippy::needless_pass_by_value)]
    fn assign(&self, py: Python<'_>, partitions: Vec<Partition>) -> PyResult<()> {
        let partitions = self::partitions(partitions);
        let done = wait_done(py, self.consumer.assign(&partitions))?;
        Self::fail(py, done)
    }

    /// The partitions assigned now, as `(topic, partition)` pairs.
    fn assignment(&self) -> Vec<Partition> {
        self.consumer
            .assignment()
            .into_iter()
            .map(|tp| (tp.topic.to_string(), tp.partition))
            .collect()
    }

    /// Up to `max_records` records, waiting at most `timeout_ms` for some,
    /// through the deserializers: `{TopicPartition: [ConsumerRecord]}`
    /// when `grouped`, else a list.
    #[pyo3(signature = (timeout_ms, max_records, key_deserializer, value_deserializer, grouped))]
    #[allow(clippy::needless_pass_by_value)]
    fn poll<'py>(
        &self,
        py: Python<'py>,
        timeout_ms: f64,
        max_records: usize,
        key_deserializer: Deserializer,
        value_deserializer: Deserializer,
        grouped: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = millis("timeout_ms", Some(timeout_ms))?.unwrap_or_default();
        if max_records == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "max_records must be at least 1",
            ));
        }
        let records = wait_done(py, self.consumer.poll_records(timeout, max_records))?;
        let records = Self::fail(py, records)?;
        python_records(
            py,
            &records,
            &key_deserializer,
            &value_deserializer,
            grouped,
        )
    }

    /// Polls as `poll` does and appends the records (fetch order) to
    /// `held` as Rust records, made Python records as they are handed out
    /// (iteration's refill); whether any came.
    #[pyo3(signature = (held, timeout_ms, max_records, key_deserializer, value_deserializer))]
    fn poll_into(
        &self,
        py: Python<'_>,
        held: &Bound<'_, Held>,
        timeout_ms: f64,
        max_records: usize,
        key_deserializer: Deserializer,
        value_deserializer: Deserializer,
    ) -> PyResult<bool> {
        let timeout = millis("timeout_ms", Some(timeout_ms))?.unwrap_or_default();
        if max_records == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "max_records must be at least 1",
            ));
        }
        let records = wait_done(py, self.consumer.poll_records(timeout, max_records))?;
        let records = Self::fail(py, records)?;
        let came = !records.is_empty();
        let held = held.get();
        *lock(&held.deserializers) = (key_deserializer, value_deserializer);
        held.records()
            .extend(records.into_iter().map(HeldRecord::Fetched));
        Ok(came)
    }

    /// Polls without blocking: `callback(polled)` runs on the module's
    /// Python thread with a `Polled` once the poll is done (the asyncio
    /// consumer's `getmany`).
    fn poll_then(&self, timeout_ms: f64, max_records: usize, callback: Py<PyAny>) -> PyResult<()> {
        let timeout = millis("timeout_ms", Some(timeout_ms))?.unwrap_or_default();
        if max_records == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "max_records must be at least 1",
            ));
        }
        let consumer = Arc::clone(&self.consumer);
        crate::runtime().spawn(async move {
            let result = consumer.poll_records(timeout, max_records).await;
            crate::call_soon(Box::new(move |py| {
                let polled = Polled {
                    result: std::sync::Mutex::new(Some(result)),
                };
                if let Err(error) = callback.bind(py).call1((polled,)) {
                    error.print(py);
                }
            }));
        });
        Ok(())
    }

    /// Commits without blocking: `callback(None)` or `callback(exception)`
    /// runs on the module's Python thread when the group answered.
    #[pyo3(signature = (offsets, callback))]
    fn commit_then(&self, offsets: Option<Vec<Commit>>, callback: Py<PyAny>) {
        let consumer = Arc::clone(&self.consumer);
        crate::runtime().spawn(async move {
            let result = match offsets {
                None => consumer.commit().await,
                Some(offsets) => consumer.commit_offsets(&commits(offsets)).await,
            };
            crate::call_soon(Box::new(move |py| {
                let outcome = match result {
                    Ok(()) => py.None(),
                    Err(error) => errors::consume_error(py, &error).into_value(py).into_any(),
                };
                if let Err(error) = callback.bind(py).call1((outcome,)) {
                    error.print(py);
                }
            }));
        });
    }

    /// Commits these offsets, or (`None`) the positions of every assigned
    /// partition, and waits for the coordinator.
    #[pyo3(signature = (offsets=None))]
    fn commit(&self, py: Python<'_>, offsets: Option<Vec<Commit>>) -> PyResult<()> {
        let done = match offsets {
            None => wait_done(py, self.consumer.commit())?,
            Some(offsets) => {
                let offsets = commits(offsets);
                wait_done(py, self.consumer.commit_offsets(&offsets))?
            }
        };
        Self::fail(py, done)
    }

    /// The group's committed offsets of these partitions, as
    /// `{TopicPartition: OffsetAndMetadata or None}`.
    #[allow(clippy::needless_pass_by_value)]
    fn committed<'py>(
        &self,
        py: Python<'py>,
        partitions: Vec<Partition>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let partitions = self::partitions(partitions);
        let found = wait_done(py, self.consumer.committed(&partitions))?;
        let found = Self::fail(py, found)?;
        let structs = structs(py)?;
        let dict = PyDict::new(py);
        for (tp, offset) in found {
            let value = match offset {
                None => py.None().into_bound(py),
                Some(o) => structs.offset_and_metadata.bind(py).call1((
                    o.offset,
                    o.metadata,
                    o.leader_epoch.unwrap_or(-1),
                ))?,
            };
            dict.set_item(topic_partition(py, &tp.topic, tp.partition)?, value)?;
        }
        Ok(dict)
    }

    /// Fetches `partition` from `offset` next.
    fn seek(&self, py: Python<'_>, topic: String, partition: i32, offset: i64) -> PyResult<()> {
        let tp = TopicPartition::new(topic, partition);
        let done = wait_done(py, self.consumer.seek(&tp, offset))?;
        Self::fail(py, done)
    }

    /// Fetches these partitions from their first offsets next.
    #[allow(clippy::needless_pass_by_value)]
    fn seek_to_beginning(&self, py: Python<'_>, partitions: Vec<Partition>) -> PyResult<()> {
        let partitions = self::partitions(partitions);
        let done = wait_done(py, self.consumer.seek_to_beginning(&partitions))?;
        Self::fail(py, done)
    }

    /// Fetches these partitions from their ends next.
    #[allow(clippy::needless_pass_by_value)]
    fn seek_to_end(&self, py: Python<'_>, partitions: Vec<Partition>) -> PyResult<()> {
        let partitions = self::partitions(partitions);
        let done = wait_done(py, self.consumer.seek_to_end(&partitions))?;
        Self::fail(py, done)
    }

    /// The offset of the next record `poll` hands out of this partition.
    fn position(&self, py: Python<'_>, topic: String, partition: i32) -> PyResult<i64> {
        let tp = TopicPartition::new(topic, partition);
        let done = wait_done(py, self.consumer.position(&tp))?;
        Self::fail(py, done)
    }

    /// `{TopicPartition: first offset}`.
    #[allow(clippy::needless_pass_by_value)]
    fn beginning_offsets<'py>(
        &self,
        py: Python<'py>,
        partitions: Vec<Partition>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let partitions = self::partitions(partitions);
        let found = wait_done(py, self.consumer.beginning_offsets(&partitions))?;
        Self::offsets_dict(py, Self::fail(py, found)?)
    }

    /// `{TopicPartition: end offset}`.
    #[allow(clippy::needless_pass_by_value)]
    fn end_offsets<'py>(
        &self,
        py: Python<'py>,
        partitions: Vec<Partition>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let partitions = self::partitions(partitions);
        let found = wait_done(py, self.consumer.end_offsets(&partitions))?;
        Self::offsets_dict(py, Self::fail(py, found)?)
    }

    /// `{TopicPartition: OffsetAndTimestamp or None}` for `(topic,
    /// partition, timestamp_ms)` queries.
    #[allow(clippy::needless_pass_by_value)]
    fn offsets_for_times<'py>(
        &self,
        py: Python<'py>,
        times: Vec<(String, i32, i64)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let times: BTreeMap<TopicPartition, i64> = times
            .into_iter()
            .map(|(topic, partition, ts)| (TopicPartition::new(topic, partition), ts))
            .collect();
        let found = wait_done(py, self.consumer.offsets_for_times(&times))?;
        let found = Self::fail(py, found)?;
        let structs = structs(py)?;
        let dict = PyDict::new(py);
        for (tp, offset) in found {
            let value = match offset {
                None => py.None().into_bound(py),
                Some(o) => structs.offset_and_timestamp.bind(py).call1((
                    o.offset,
                    o.timestamp,
                    o.leader_epoch.unwrap_or(-1),
                ))?,
            };
            dict.set_item(topic_partition(py, &tp.topic, tp.partition)?, value)?;
        }
        Ok(dict)
    }

    /// Stops fetching these partitions.
    #[allow(clippy::needless_pass_by_value)]
    fn pause(&self, py: Python<'_>, partitions: Vec<Partition>) -> PyResult<()> {
        Self::fail(py, self.consumer.pause(&self::partitions(partitions)))
    }

    /// Fetches these partitions again.
    #[allow(clippy::needless_pass_by_value)]
    fn resume(&self, py: Python<'_>, partitions: Vec<Partition>) -> PyResult<()> {
        Self::fail(py, self.consumer.resume(&self::partitions(partitions)))
    }

    /// The paused partitions.
    fn paused(&self) -> Vec<Partition> {
        self.consumer
            .paused()
            .into_iter()
            .map(|tp| (tp.topic.to_string(), tp.partition))
            .collect()
    }

    /// Every topic of the cluster with its partitions.
    fn topics(&self, py: Python<'_>) -> PyResult<BTreeMap<String, Vec<i32>>> {
        let found = wait_done(py, self.consumer.topics())?;
        Self::fail(py, found)
    }

    /// The partitions of `topic`.
    fn partitions_for_topic(&self, py: Python<'_>, topic: &str) -> PyResult<Vec<i32>> {
        let found = wait_done(py, self.consumer.partitions_for_topic(topic))?;
        Self::fail(py, found)
    }

    /// `(group_id, generation_id, member_id, group_instance_id)`, or
    /// `None` without a group.
    fn group_metadata(&self, py: Python<'_>) -> PyResult<Option<GroupMetadata>> {
        let identity = wait_done(py, self.consumer.group_metadata())?;
        Ok(identity.map(|g| (g.group_id, g.generation, g.member_id, g.group_instance_id)))
    }

    /// The consumer's metrics as `{name: value}` (kafka-python's names).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.consumer.metrics();
        let dict = PyDict::new(py);
        #[allow(clippy::cast_precision_loss)]
        let values = [
            ("records-consumed-total", m.records_consumed_total as f64),
            ("records-consumed-rate", m.records_consumed_rate),
            ("bytes-consumed-total", m.bytes_consumed_total as f64),
            ("bytes-consumed-rate", m.bytes_consumed_rate),
            ("fetch-total", m.fetch_total as f64),
            ("fetch-rate", m.fetch_rate),
            ("fetch-latency-avg", m.fetch_latency_avg_ms),
            ("fetch-latency-max", m.fetch_latency_max_ms),
            ("records-per-request-avg", m.records_per_request_avg),
            ("fetch-size-avg", m.fetch_size_avg),
            ("fetch-size-max", m.fetch_size_max),
            ("records-lag-max", m.records_lag_max as f64),
            ("commit-total", m.commit_total as f64),
            ("commit-rate", m.commit_rate),
            ("commit-latency-avg", m.commit_latency_avg_ms),
            ("commit-latency-max", m.commit_latency_max_ms),
            ("rebalance-total", m.rebalance_total as f64),
            ("heartbeat-total", m.heartbeat_total as f64),
            ("heartbeat-rate", m.heartbeat_rate),
            (
                "heartbeat-response-time-max",
                m.heartbeat_response_time_max_ms,
            ),
            (
                "last-heartbeat-seconds-ago",
                m.last_heartbeat_seconds_ago as f64,
            ),
        ];
        for (name, value) in values {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// Commits (with auto-commit, when `autocommit`), leaves the group and
    /// stops, waiting at most `timeout_ms`.
    #[pyo3(signature = (timeout_ms))]
    fn close(&self, py: Python<'_>, timeout_ms: f64) -> PyResult<()> {
        let timeout = millis("timeout_ms", Some(timeout_ms))?.unwrap_or_default();
        let done = wait_done(py, self.consumer.close(timeout))?;
        Self::fail(py, done)
    }
}
