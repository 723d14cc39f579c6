//! Partner events: canonical ⇄ native wire.

use scenegate_adapter_contract::canonical::{self, Page};

use super::each;
use crate::native::wire;

impl From<canonical::EventView> for wire::EventView {
    fn from(e: canonical::EventView) -> Self {
        let canonical::EventView { id, event_type, created_at, subject_id, data } = e;
        Self { id, event_type, created_at, subject_id, data }
    }
}

impl From<wire::EventView> for canonical::EventView {
    fn from(e: wire::EventView) -> Self {
        let wire::EventView { id, event_type, created_at, subject_id, data } = e;
        Self { id, event_type, created_at, subject_id, data }
    }
}

/// The page back from a list body; the cursor is read from `links.next`.
impl From<wire::EventList> for Page<canonical::EventView> {
    fn from(list: wire::EventList) -> Self {
        let wire::EventList { data, links, meta: _ } = list;
        Page { next_cursor: links.next_cursor(), items: each(data) }
    }
}
