//! Helpers of the corrupt-input suite: the binary run under a deadline and an address-space
//! limit, a global allocator that records the largest allocation a reader makes, and the
//! structural boundaries of each input format, computed from the format itself.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Bounded time and memory of a child process.

/// Wall-clock deadline of one child: generous for a loaded 2-core CI machine, small next to
/// "hangs forever". A child still running then is killed and the test fails.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(60);
/// Address space a child may map. A run on a small input needs well under 100 MiB; any
/// allocation sized by a corrupt length (up to 4 GiB for a 32-bit length prefix, more for a
/// 64-bit one) fails under it, and the child aborts instead of succeeding on overcommit.
pub const CHILD_ADDRESS_SPACE: u64 = 512 << 20;

/// What a child did.
pub struct Run {
    /// `None` when it was killed (the deadline, or a signal such as an abort on a failed
    /// allocation).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The exit code, failing the test with everything known about a child that has none.
    pub fn code(&self) -> i32 {
        match self.code {
            Some(c) => c,
            None => panic!(
                "the child was killed after {:?} (deadline {CHILD_DEADLINE:?}, address space \
                 {} MiB)\nstderr: {}",
                self.elapsed,
                CHILD_ADDRESS_SPACE >> 20,
                self.stderr
            ),
        }
    }

    /// Exit 3 with a message that names `path` and `byte offset {offset}`.
    pub fn assert_input_error(&self, path: &Path, offset: u64) -> &Self {
        assert_eq!(self.code(), 3, "expected exit 3\nstderr: {}", self.stderr);
        let name = path.display().to_string();
        assert!(self.stderr.contains(&name), "no path in: {}", self.stderr);
        let at = format!("byte offset {offset}");
        assert!(
            self.stderr.contains(&at),
            "expected `{at}` in: {}",
            self.stderr
        );
        self
    }

    /// Exit 3 naming the file and some byte offset no further than `len` (where exactly a
    /// flipped byte is noticed depends on what it turned into).
    pub fn assert_input_error_within(&self, path: &Path, len: u64) -> u64 {
        assert_eq!(self.code(), 3, "expected exit 3\nstderr: {}", self.stderr);
        assert!(
            self.stderr.contains(&path.display().to_string()),
            "no path in: {}",
            self.stderr
        );
        let offset = byte_offset(&self.stderr)
            .unwrap_or_else(|| panic!("no byte offset in: {}", self.stderr));
        assert!(offset <= len, "offset {offset} past {len}: {}", self.stderr);
        offset
    }

    /// The JSON document on stdout (a check report or `inspect --format json`).
    pub fn json(&self) -> serde_json::Value {
        let start = self.stdout.find('{').unwrap_or_else(|| {
            panic!(
                "no JSON on stdout (exit {:?}): {}\nstderr: {}",
                self.code, self.stdout, self.stderr
            )
        });
        serde_json::from_str(&self.stdout[start..])
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", self.stdout))
    }
}

/// The number after the first `byte offset ` in `s`.
pub fn byte_offset(s: &str) -> Option<u64> {
    let rest = &s[s.find("byte offset ")? + "byte offset ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Runs `lastbucket ARGS` with colors off, under [`CHILD_DEADLINE`] and
/// [`CHILD_ADDRESS_SPACE`].
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lastbucket"));
    cmd.args(args).env("NO_COLOR", "1");
    let limit = libc::rlimit {
        rlim_cur: CHILD_ADDRESS_SPACE,
        rlim_max: CHILD_ADDRESS_SPACE,
    };
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe and
    // touches no memory of the parent but the `limit` copied into the closure.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(CHILD_DEADLINE);
    let started = Instant::now();
    let out = cmd.output().expect("the binary starts");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// `check SOURCE` with the flag on only, the JSON report on stdout, and `extra` arguments.
pub fn check(source: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![
        "check".as_ref(),
        source.as_os_str(),
        "--flush-incomplete-buckets".as_ref(),
        "on".as_ref(),
        "--export-json".as_ref(),
        "-".as_ref(),
        "--quiet".as_ref(),
        "--jobs".as_ref(),
        "1".as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    run(args)
}

/// `inspect SOURCE --format json` and `extra` arguments.
pub fn inspect(source: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![
        "inspect".as_ref(),
        source.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    run(args)
}

/// The counts of the only scenario of a check report, its accounting identity checked.
pub fn counts(report: &serde_json::Value) -> serde_json::Value {
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 1, "{report}");
    let s = &scenarios[0];
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"));
    let c = &s["counts"];
    assert_eq!(
        n(&c["sent"]),
        n(&c["rejected"]) + n(&c["flushed"]) + n(&c["lost"]),
        "identity: {c}"
    );
    let by_stage: u64 = c["lost_by_stage"]
        .as_object()
        .expect("lost_by_stage")
        .values()
        .map(n)
        .sum();
    assert_eq!(by_stage, n(&c["lost"]), "stages: {c}");
    let by_reason: u64 = c["rejected_by_reason"]
        .as_object()
        .map_or(0, |m| m.values().map(n).sum());
    assert_eq!(
        by_reason,
        n(&c["rejected"]),
        "every rejection has a reason: {c}"
    );
    assert_ne!(s["verdict"], "accounting_error", "{s}");
    c.clone()
}

/// How many samples were rejected for `reason` in a check report's counts.
pub fn rejected_for(counts: &serde_json::Value, reason: &str) -> u64 {
    counts["rejected_by_reason"][reason].as_u64().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Allocations of an in-process reader.

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Records, per thread, the largest single allocation and the peak of bytes allocated and not
/// yet freed by that thread. Per thread because the tests of this file run in parallel.
pub struct Recording;

fn note(grow: isize, size: usize) {
    // `try_with`: nothing to record while a thread's locals are being torn down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + grow;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is passed on to the system allocator unchanged; the bookkeeping only
// touches const-initialised thread locals, which never allocate.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize), 0);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize, new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What `f` allocated on this thread: (largest single allocation, peak live bytes above what
/// was live when it started).
pub fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = LIVE.with(Cell::get);
    LARGEST.with(|l| l.set(0));
    PEAK.with(|p| p.set(base));
    let out = f();
    let largest = LARGEST.with(Cell::get);
    let peak = PEAK.with(Cell::get) - base;
    (out, largest, peak.max(0) as usize)
}

// ---------------------------------------------------------------------------------------------
// Structural boundaries of each format.

/// One place to cut a file, and what a reader must make of the file cut there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The data ends at a boundary where the format may end: this many datagrams, no error.
    Clean { datagrams: u64 },
    /// The file is truncated: an error at this offset (the start of the unit that was cut),
    /// after this many datagrams; with `--allow-truncated`, a clean end recording it.
    Truncated { offset: u64, datagrams: u64 },
    /// The file header is cut: an error at this offset, with `--allow-truncated` too (there
    /// is nothing to read without a header).
    Header { offset: u64 },
    /// An error at this offset that may be read as a cut or as corruption: a cut inside a
    /// capture's tagger state leaves state bytes where its length should be, and a length
    /// smaller than what is left cannot be told from a damaged one.
    Damaged { offset: u64, datagrams: u64 },
}

/// Offsets in `start..end` worth cutting at: both ends, the byte after the start, the middle
/// and the byte before the end (the boundaries of a field and its first and last byte).
pub fn field_cuts(start: usize, end: usize) -> Vec<usize> {
    let mut v = vec![
        start,
        start + 1,
        (start + end) / 2,
        end.saturating_sub(1),
        end,
    ];
    v.retain(|&c| c >= start && c <= end);
    v.sort_unstable();
    v.dedup();
    v
}

/// Little-endian u32 at `at`.
pub fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// Reads a protobuf varint at `*at`, moving past it.
pub fn read_varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// The field boundaries inside one encoded protobuf message at `start..end` (after each key,
/// each length, each value).
pub fn protobuf_boundaries(b: &[u8], start: usize, end: usize) -> Vec<usize> {
    let mut out = vec![start];
    let mut at = start;
    while at < end {
        let key = read_varint(b, &mut at);
        out.push(at);
        match key & 7 {
            0 => {
                read_varint(b, &mut at);
            }
            2 => {
                let len = read_varint(b, &mut at) as usize;
                out.push(at);
                if len > 1 {
                    out.push(at + len / 2);
                }
                at += len;
            }
            1 => at += 8,
            5 => at += 4,
            t => panic!("wire type {t} in a test file"),
        }
        out.push(at);
    }
    out
}

/// Every offset at which to cut a capture file (raw, decompressed bytes) and the outcome the
/// format facts give: header bytes; for each record, its 4-byte length, the fields of its
/// protobuf, its end; for version ≥ 2 the terminator, the tagger state and its length.
///
/// `datagrams_in(i)`: datagrams records `0..i` hold (every record holds one).
pub fn capture_cuts(b: &[u8]) -> Vec<(usize, Cut)> {
    let version = b[4] & 0x0F;
    let mut out: Vec<(usize, Cut)> = (1..8)
        .map(|c| (c, Cut::Header { offset: c as u64 }))
        .collect();
    let mut at = 8;
    let mut record = 0u64;
    loop {
        let start = at;
        // A version-1 file may end after any whole record; later versions need the trailer.
        let at_boundary = if version < 2 {
            Cut::Clean { datagrams: record }
        } else {
            Cut::Truncated {
                offset: start as u64,
                datagrams: record,
            }
        };
        out.push((start, at_boundary));
        if start == b.len() {
            return out;
        }
        let len = le32(b, start);
        let cut_here = Cut::Truncated {
            offset: start as u64,
            datagrams: record,
        };
        for c in [start + 1, start + 2, start + 3] {
            out.push((c, cut_here));
        }
        if len == 0 {
            // The terminator, then the tagger state and its length.
            let state_start = start + 4;
            let state_end = b.len() - 4;
            let in_state = Cut::Truncated {
                offset: state_start as u64,
                datagrams: record,
            };
            let mut cuts = vec![state_start, state_end, state_end + 1, state_end + 3];
            if state_end > state_start {
                cuts.extend(protobuf_boundaries(b, state_start, state_end));
            }
            cuts.sort_unstable();
            cuts.dedup();
            for c in cuts {
                // Fewer than 4 bytes after the terminator: no length at all, a cut.
                let cut = if c < state_start + 4 {
                    in_state
                } else {
                    Cut::Damaged {
                        offset: state_start as u64,
                        datagrams: record,
                    }
                };
                out.push((c, cut));
            }
            out.push((b.len(), Cut::Clean { datagrams: record }));
            return out;
        }
        let body = start + 4;
        for c in protobuf_boundaries(b, body, body + len) {
            if c < body + len {
                out.push((c, cut_here));
            }
        }
        at = body + len;
        record += 1;
    }
}

/// Every offset at which to cut a classic pcap file, and the outcome: inside the 24-byte
/// header, at each 16-byte packet header (its fields) and inside its data. `datagrams(i)`:
/// datagrams the first `i` packets hold.
pub fn pcap_cuts(b: &[u8], datagrams: impl Fn(u64) -> u64) -> Vec<(usize, Cut)> {
    let mut out: Vec<(usize, Cut)> = [1, 4, 8, 16, 20, 23]
        .into_iter()
        .map(|c| (c, Cut::Header { offset: c as u64 }))
        .collect();
    let mut at = 24;
    let mut packet = 0u64;
    loop {
        out.push((
            at,
            Cut::Clean {
                datagrams: datagrams(packet),
            },
        ));
        if at == b.len() {
            return out;
        }
        let incl = le32(b, at + 8);
        let end = at + 16 + incl;
        let cut = Cut::Truncated {
            offset: at as u64,
            datagrams: datagrams(packet),
        };
        let mut cuts = vec![at + 1, at + 4, at + 8, at + 12, at + 15];
        cuts.extend(field_cuts(at + 16, end - 1));
        for c in cuts {
            out.push((c, cut));
        }
        at = end;
        packet += 1;
    }
}

/// Every offset at which to cut a pcapng file, and the outcome: each block's type, length,
/// body and trailing length. The first block (the section header) is the file header, whose
/// errors name offset 0; `datagrams(i)`: datagrams the first `i` blocks hold.
pub fn pcapng_cuts(b: &[u8], datagrams: impl Fn(u64) -> u64) -> Vec<(usize, Cut)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut block = 0u64;
    loop {
        if block > 0 {
            out.push((
                at,
                Cut::Clean {
                    datagrams: datagrams(block),
                },
            ));
        }
        if at == b.len() {
            return out;
        }
        let len = le32(b, at + 4);
        let end = at + len;
        let cut = if block == 0 {
            Cut::Header { offset: 0 }
        } else {
            Cut::Truncated {
                offset: at as u64,
                datagrams: datagrams(block),
            }
        };
        let mut cuts = vec![at + 1, at + 4, at + 7, at + 8];
        cuts.extend(field_cuts(at + 8, end - 4));
        cuts.extend([end - 3, end - 1]);
        cuts.retain(|&c| c > 0 && c < end);
        cuts.sort_unstable();
        cuts.dedup();
        for c in cuts {
            // Fewer than 4 bytes of the pcapng magic (`0A 0D 0D`) are blank text lines, and
            // detected as such: a file of nothing.
            let cut = if block == 0 && c < 4 {
                Cut::Clean { datagrams: 0 }
            } else {
                cut
            };
            out.push((c, cut));
        }
        at = end;
        block += 1;
    }
}

/// Every offset at which to cut a JSON-lines file, and the outcome: at each line start, one
/// byte in, the middle, just before and just after its newline. A cut just before the newline
/// leaves a whole object without its newline, which is still read.
pub fn jsonl_cuts(b: &[u8]) -> Vec<(usize, Cut)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut line = 0u64;
    while start < b.len() {
        let nl = start + b[start..].iter().position(|&c| c == b'\n').unwrap();
        out.push((start, Cut::Clean { datagrams: line }));
        for c in [start + 1, (start + nl) / 2, nl - 1] {
            out.push((
                c,
                Cut::Truncated {
                    offset: start as u64,
                    datagrams: line,
                },
            ));
        }
        out.push((
            nl,
            Cut::Clean {
                datagrams: line + 1,
            },
        ));
        start = nl + 1;
        line += 1;
    }
    out.push((b.len(), Cut::Clean { datagrams: line }));
    out
}
