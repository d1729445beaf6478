//! kvscope page.
