//! The templates the node's template provider offered, the chain tip they build on and their
//! transactions: the raw material of declared jobs and solo mining. Bounded: only the last few
//! templates are kept.

use std::collections::VecDeque;
use std::sync::Arc;

use super::coinbase;
use super::template_events::{Template, TemplateTip};

/// Templates kept (future ones wait here for their `SetNewPrevHash`).
const MAX_TEMPLATES: usize = 16;
/// Templates whose transactions are kept.
const MAX_TRANSACTION_SETS: usize = 4;

/// A template's transactions, as the template provider sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateTransactions {
    pub template_id: u64,
    /// Consensus serialization, with witness, in block order.
    pub raw: Vec<Vec<u8>>,
    pub wtxids: Vec<[u8; 32]>,
    pub excess_data: Vec<u8>,
}

/// What the template provider has offered so far.
#[derive(Debug, Default)]
pub struct TemplateFeed {
    pub connected: bool,
    /// Why the connection is down, until it is up again.
    pub error: Option<String>,
    templates: VecDeque<Arc<Template>>,
    tip: Option<TemplateTip>,
    /// The template mined on `tip` now.
    active: Option<Arc<Template>>,
    transactions: VecDeque<Arc<TemplateTransactions>>,
}

impl TemplateFeed {
    /// The template to mine now and the tip it builds on.
    pub fn current(&self) -> Option<(&Arc<Template>, &TemplateTip)> {
        Some((self.active.as_ref()?, self.tip.as_ref()?))
    }

    /// A new template; true if it is to be mined now (a non-future template on the current tip).
    pub fn on_template(&mut self, template: Template) -> bool {
        let template = Arc::new(template);
        if self.templates.len() == MAX_TEMPLATES {
            self.templates.pop_front();
        }
        self.templates.push_back(template.clone());
        if template.future || self.tip.is_none() {
            return false;
        }
        self.active = Some(template);
        true
    }

    /// A new tip; true if the template it names is known (and so mined from now on). Templates
    /// for earlier tips are forgotten.
    pub fn on_tip(&mut self, tip: TemplateTip) -> bool {
        self.tip = Some(tip);
        let named = self
            .templates
            .iter()
            .rev()
            .find(|t| t.template_id == tip.template_id)
            .cloned();
        // Future templates sent after this one are for later tips; everything before is done.
        self.templates.retain(|t| t.template_id >= tip.template_id);
        self.transactions
            .retain(|t| t.template_id >= tip.template_id);
        self.active = named;
        self.active.is_some()
    }

    /// The transactions of a template; refused if one does not decode.
    pub fn on_transactions(
        &mut self,
        template_id: u64,
        raw: Vec<Vec<u8>>,
        excess_data: Vec<u8>,
    ) -> Result<(), coinbase::CoinbaseError> {
        let wtxids = raw
            .iter()
            .map(|tx| coinbase::wtxid(tx))
            .collect::<Result<Vec<_>, _>>()?;
        if self.transactions.len() == MAX_TRANSACTION_SETS {
            self.transactions.pop_front();
        }
        self.transactions.push_back(Arc::new(TemplateTransactions {
            template_id,
            raw,
            wtxids,
            excess_data,
        }));
        Ok(())
    }

    pub fn transactions(&self, template_id: u64) -> Option<&Arc<TemplateTransactions>> {
        self.transactions
            .iter()
            .rev()
            .find(|t| t.template_id == template_id)
    }

    /// The provider is gone: nothing it offered can be mined on any more.
    pub fn on_disconnected(&mut self, reason: String) {
        *self = TemplateFeed {
            error: Some(reason),
            ..TemplateFeed::default()
        };
    }
}
