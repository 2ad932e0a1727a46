//! Sockets, below every command that uses them: addresses (`udp://`, `unixgram://`, `unix://`),
//! the length-prefixed framing of Unix streams, the listeners that read (batched `recvmmsg`
//! reads on reader threads, with the kernel's drop counters), the client that sends, and the
//! stop signals. `serve`, `record`, `replay` and check's socket transport all build on these;
//! nothing here knows about them.

pub mod address;
pub mod batch_read;
pub mod client;
mod datagram_thread;
pub mod drops;
pub mod frame;
pub mod listener;
pub mod signals;
pub mod socket;

pub use address::{Address, AddressError};
pub use batch_read::{ReadBatch, Received};
pub use client::{Client, ClientError};
pub use listener::{ListenError, ListenOptions, Listener, CHANNEL_CAPACITY};
