//! The seeds' own byte-level dialects, served beside hv's one-exit calls so that guests written
//! for the seeds' hypervisors run unchanged: seed 000's file requests ([`files`]) and seed 002's
//! hypercall ports (served by `services::seed_ports`). The wire is specified in [`hv_core::proto::seed`].

pub(crate) mod files;

/// Per-guest state of the seed dialects. Their diagnostics (malformed requests, bad pointers) go
/// through the guest's rate-limited warnings (`crate::diag`), like every other warning a guest
/// can cause.
#[derive(Debug, Default)]
pub(crate) struct SeedState {
    /// Seed 000's file request decoder.
    pub(crate) files: files::Decoder,
    /// The address seed 002's last `out` to 0xEE gave, for the next `in` on 0xEF.
    pub(crate) gva: Option<u32>,
    /// Whether the guest has made one of hv's own file calls on the file port: it then speaks
    /// hv's ABI, and its seed-000 bytes are never queued (see `guest::coalesce`).
    pub(crate) hv_file_calls: bool,
}
