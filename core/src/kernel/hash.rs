//! The trace hash: a running SHA-256 over every processed event and log line.

use sha2::{Digest, Sha256};

/// Running SHA-256 over every processed event and log line: two runs have the
/// same `trace_hash` exactly when they processed the same events in the same order.
#[derive(Clone, Debug, Default)]
pub struct TraceHasher {
    hasher: Sha256,
}

impl TraceHasher {
    /// Feeds bytes into the digest.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The digest so far as lower-case hex (64 characters).
    pub fn hex(&self) -> String {
        let digest = self.hasher.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}
