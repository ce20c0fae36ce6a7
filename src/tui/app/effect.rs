/// Tags a background request; a result for a superseded request is dropped.
pub type RequestId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Load a fresh [`super::Snapshot`] from the store.
    Load {
        request: RequestId,
    },
    /// Load one incident in full ([`crate::inspect::load`]) for the Incident view.
    LoadIncident {
        request: RequestId,
        id: String,
    },
    Quit,
}
