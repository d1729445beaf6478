//! The wait-for graph: transactions as nodes, "waits for the lock of" as
//! edges labelled with the key, drawn as SVG by Yew.
//!
//! Two graphs side by side: the local waiters of one store's waiter manager
//! (`WaitTable`, as `WaitEdgeView`s) and the detector leader's `DetectTable`
//! (as `DetectEdgeView`s). Below them, the last deadlock the detector found,
//! as a ring with its victim. Edges and victims of recent deadlocks are red
//! in the graphs too.
//!
//! Small graphs (up to [`INDIVIDUAL_MAX`] transactions) draw every
//! transaction on a circle. Larger ones fold the waiters nobody waits for
//! into one group node per (key, lock owner), "47 waiters", and say on
//! screen how many transactions were folded. [`build`] is the pure layout;
//! the components only draw its result.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kvscope_core::views::{DeadlockView, LockView, TxnPhase};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::format;
use crate::snapshot::Frame;

/// Graphs with at most this many transactions draw each one individually.
pub const INDIVIDUAL_MAX: usize = 16;
/// At most this many rows per column in a folded graph; the rest is counted in the note.
pub const ROWS_MAX: usize = 24;
/// Deadlocks found within this many virtual ms of now are highlighted.
pub const RECENT_DEADLOCK_MS: u64 = 10_000;

/// Width of every graph's drawing, in SVG units (the SVG scales to its box).
const WIDTH: f64 = 340.0;
const ROW: f64 = 30.0;
const NODE_W: f64 = 92.0;
const NODE_H: f64 = 22.0;

/// One edge of a wait-for graph: `waiter` waits for the lock `owner` holds on `keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// start_ts of the waiting transaction.
    pub waiter: u64,
    /// start_ts of the lock owner it waits for.
    pub owner: u64,
    /// The key(s) of the wait (a detect-table edge may carry several).
    pub keys: Vec<u64>,
}

/// What a node stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// One transaction, by start_ts.
    Txn(u64),
    /// Waiters folded together: `count` transactions waiting for `owner`'s lock on `key`.
    Group {
        /// How many waiters.
        count: usize,
        /// The key they wait on.
        key: u64,
        /// The lock owner they wait for.
        owner: u64,
        /// Their start_ts (for the tooltip), ascending.
        members: Vec<u64>,
    },
}

/// A laid-out node.
#[derive(Clone, Debug, PartialEq)]
pub struct GNode {
    /// What it is.
    pub kind: NodeKind,
    /// Centre, SVG units.
    pub x: f64,
    /// Centre, SVG units.
    pub y: f64,
    /// True if others wait for it (a lock owner).
    pub owner: bool,
    /// True if it is on a recent deadlock cycle.
    pub in_cycle: bool,
    /// True if it was a recent deadlock's victim.
    pub victim: bool,
}

/// A laid-out edge.
#[derive(Clone, Debug, PartialEq)]
pub struct GEdge {
    /// Index of the waiting node.
    pub from: usize,
    /// Index of the owner node.
    pub to: usize,
    /// Label (the key, `key 3`, or `key 3 +2` for several).
    pub label: String,
    /// SVG path.
    pub path: String,
    /// Label position.
    pub label_at: (f64, f64),
    /// SVG `text-anchor` of the label (`start`, `middle`, `end`): away from the curve.
    pub anchor: &'static str,
    /// True if this wait is on a recent deadlock cycle.
    pub in_cycle: bool,
}

/// A laid-out wait-for graph.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Graph {
    /// Nodes.
    pub nodes: Vec<GNode>,
    /// Edges.
    pub edges: Vec<GEdge>,
    /// Drawing width, SVG units.
    pub width: f64,
    /// Drawing height, SVG units.
    pub height: f64,
    /// Distinct transactions in the graph.
    pub total_txns: usize,
    /// Transactions drawn as their own node.
    pub shown_txns: usize,
    /// Group nodes drawn.
    pub groups: usize,
    /// Transactions left out entirely (past [`ROWS_MAX`] rows, or in small
    /// wait chains past [`CHAINS_BUDGET`]).
    pub hidden_txns: usize,
    /// Small wait chains (connected groups of at most [`INDIVIDUAL_MAX`]
    /// transactions) left out.
    pub hidden_chains: usize,
}

impl Graph {
    /// The sentence saying what was folded, or `None` when every transaction is drawn.
    pub fn folding_note(&self) -> Option<String> {
        if self.shown_txns == self.total_txns {
            return None;
        }
        let folded = self
            .total_txns
            .saturating_sub(self.shown_txns)
            .saturating_sub(self.hidden_txns);
        let mut s = format!(
            "showing {} of {} transactions",
            self.shown_txns, self.total_txns
        );
        if self.groups > 0 {
            s.push_str(&format!(
                "; {} folded into {} per-key group{}",
                folded,
                self.groups,
                if self.groups == 1 { "" } else { "s" }
            ));
        }
        if self.hidden_txns > 0 {
            s.push_str(&format!("; {} more not drawn", self.hidden_txns));
            if self.hidden_chains > 0 {
                s.push_str(&format!(
                    " (among them {} small wait chain{})",
                    self.hidden_chains,
                    if self.hidden_chains == 1 { "" } else { "s" }
                ));
            }
        }
        Some(s)
    }
}

/// At most this many of the latest deadlocks are highlighted.
pub const RECENT_DEADLOCKS_MAX: usize = 5;
/// Transactions of small wait chains drawn at most, beside the folded crowd.
pub const CHAINS_BUDGET: usize = 24;

/// The waits of recent deadlocks (the last [`RECENT_DEADLOCKS_MAX`] found
/// within [`RECENT_DEADLOCK_MS`]), `(waiter, owner)`, and their victims.
pub fn recent_cycles(
    deadlocks: &[DeadlockView],
    now_ms: u64,
) -> (BTreeSet<(u64, u64)>, BTreeSet<u64>) {
    let mut edges = BTreeSet::new();
    let mut victims = BTreeSet::new();
    for d in deadlocks
        .iter()
        .rev()
        .take(RECENT_DEADLOCKS_MAX)
        .filter(|d| d.at_ms + RECENT_DEADLOCK_MS >= now_ms)
    {
        victims.insert(d.victim_ts);
        for (txn, wait_for, _) in &d.wait_chain {
            edges.insert((*txn, *wait_for));
        }
    }
    (edges, victims)
}

fn key_label(keys: &[u64]) -> String {
    match keys {
        [] => "key ?".to_string(),
        [k] => format!("key {k}"),
        [k, rest @ ..] => format!("key {k} +{}", rest.len()),
    }
}

/// A short text for a start_ts: in full up to 7 digits, else `…` and its last 5.
pub fn short_ts(ts: u64) -> String {
    if ts < 10_000_000 {
        ts.to_string()
    } else {
        format!("…{:05}", ts % 100_000)
    }
}

/// Lays out `waits`. `cycle_edges` and `victims` (from [`recent_cycles`]) are
/// highlighted and never folded.
pub fn build(waits: &[Wait], cycle_edges: &BTreeSet<(u64, u64)>, victims: &BTreeSet<u64>) -> Graph {
    let mut txns: BTreeSet<u64> = BTreeSet::new();
    let mut owners: BTreeSet<u64> = BTreeSet::new();
    for w in waits {
        txns.insert(w.waiter);
        txns.insert(w.owner);
        owners.insert(w.owner);
    }
    let in_cycle =
        |t: u64| cycle_edges.iter().any(|(a, b)| *a == t || *b == t) || victims.contains(&t);
    if txns.len() <= INDIVIDUAL_MAX {
        return circle(waits, &txns, &owners, cycle_edges, victims, &in_cycle);
    }
    // Crowds (connected groups too big to draw one by one) are folded
    // together at the top; small wait chains are drawn one by one below,
    // those on a recent deadlock first, then the largest, within a budget.
    let (crowds, mut chains): (Vec<Component>, Vec<Component>) = components(waits)
        .into_iter()
        .partition(|c| c.txns.len() > INDIVIDUAL_MAX);
    let mut g = Graph {
        width: WIDTH,
        ..Graph::default()
    };
    if !crowds.is_empty() {
        let crowd: Vec<Wait> = crowds
            .iter()
            .flat_map(|c| c.waits.iter().cloned())
            .collect();
        let crowd_txns: BTreeSet<u64> =
            crowds.iter().flat_map(|c| c.txns.iter().copied()).collect();
        let f = folded(
            &crowd,
            &crowd_txns,
            &owners,
            cycle_edges,
            victims,
            &in_cycle,
        );
        merge(&mut g, f, 0.0, 0.0);
    }
    chains.sort_by_key(|c| {
        (
            !c.txns.iter().any(|t| in_cycle(*t)),
            std::cmp::Reverse(c.txns.len()),
            c.txns.first().copied(),
        )
    });
    let (mut x, mut y, mut row_h, mut drawn) = (0.0, g.height, 0.0f64, 0);
    for c in chains {
        if drawn + c.txns.len() > CHAINS_BUDGET {
            g.hidden_txns += c.txns.len();
            g.hidden_chains += 1;
            continue;
        }
        drawn += c.txns.len();
        let cg = circle(&c.waits, &c.txns, &owners, cycle_edges, victims, &in_cycle);
        if x > 0.0 && x + cg.width > WIDTH {
            y += row_h;
            x = 0.0;
            row_h = 0.0;
        }
        let (w, h) = (cg.width, cg.height);
        merge(&mut g, cg, x, y);
        x += w;
        row_h = row_h.max(h);
    }
    g.height = g.height.max(y + row_h);
    g.total_txns = txns.len();
    g
}

/// A weakly connected part of a wait-for graph.
struct Component {
    txns: BTreeSet<u64>,
    waits: Vec<Wait>,
}

/// The weakly connected components of `waits`, in order of their smallest start_ts.
fn components(waits: &[Wait]) -> Vec<Component> {
    // Union-find over start_ts; every root is the smallest start_ts of its set.
    fn root(parent: &BTreeMap<u64, u64>, t: u64) -> u64 {
        let mut r = t;
        while let Some(&p) = parent.get(&r) {
            if p == r {
                break;
            }
            r = p;
        }
        r
    }
    let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
    for w in waits {
        parent.entry(w.waiter).or_insert(w.waiter);
        parent.entry(w.owner).or_insert(w.owner);
        let (a, b) = (root(&parent, w.waiter), root(&parent, w.owner));
        if a != b {
            parent.insert(a.max(b), a.min(b));
        }
    }
    let mut by_root: BTreeMap<u64, Component> = BTreeMap::new();
    for w in waits {
        let c = by_root
            .entry(root(&parent, w.waiter))
            .or_insert_with(|| Component {
                txns: BTreeSet::new(),
                waits: Vec::new(),
            });
        c.txns.insert(w.waiter);
        c.txns.insert(w.owner);
        c.waits.push(w.clone());
    }
    by_root.into_values().collect()
}

/// Moves every coordinate pair (`x,y`, with an optional command letter) of an SVG path.
fn shift_path(path: &str, dx: f64, dy: f64) -> String {
    path.split(' ')
        .map(|tok| {
            let cmd: String = tok
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let rest = &tok[cmd.len()..];
            match rest
                .split_once(',')
                .and_then(|(x, y)| Some((x.parse::<f64>().ok()?, y.parse::<f64>().ok()?)))
            {
                Some((x, y)) => format!("{cmd}{:.1},{:.1}", x + dx, y + dy),
                None => tok.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Appends `part`, moved by `(dx, dy)`, to `g` (nodes, edges and counts).
fn merge(g: &mut Graph, part: Graph, dx: f64, dy: f64) {
    let base = g.nodes.len();
    g.nodes.extend(part.nodes.into_iter().map(|mut n| {
        n.x += dx;
        n.y += dy;
        n
    }));
    g.edges.extend(part.edges.into_iter().map(|mut e| {
        e.from += base;
        e.to += base;
        e.path = shift_path(&e.path, dx, dy);
        e.label_at = (e.label_at.0 + dx, e.label_at.1 + dy);
        e
    }));
    g.height = g.height.max(part.height + dy);
    g.shown_txns += part.shown_txns;
    g.groups += part.groups;
    g.hidden_txns += part.hidden_txns;
    g.hidden_chains += part.hidden_chains;
}

/// A quadratic curve from `a` to `b`, bent to the left of the direction, ending
/// `trim` short of `b`; returns the path and the label point.
fn curve(a: (f64, f64), b: (f64, f64), bend: f64, trim: f64) -> (String, (f64, f64), &'static str) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (px, py) = (uy, -ux);
    let mid = ((a.0 + b.0) / 2.0 + px * bend, (a.1 + b.1) / 2.0 + py * bend);
    let start = (a.0 + ux * trim, a.1 + uy * trim);
    let end = (b.0 - ux * trim, b.1 - uy * trim);
    // The curve's apex is half way to the control point; the label sits
    // just outside it (and clear of the opposite edge of a 2-cycle).
    let out = bend / 2.0 + 5.0;
    let anchor = if px > 0.3 {
        "start"
    } else if px < -0.3 {
        "end"
    } else {
        "middle"
    };
    let label = (
        (a.0 + b.0) / 2.0 + px * out,
        (a.1 + b.1) / 2.0 + py * out + 3.0,
    );
    (
        format!(
            "M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}",
            start.0, start.1, mid.0, mid.1, end.0, end.1
        ),
        label,
        anchor,
    )
}

fn circle(
    waits: &[Wait],
    txns: &BTreeSet<u64>,
    owners: &BTreeSet<u64>,
    cycle_edges: &BTreeSet<(u64, u64)>,
    victims: &BTreeSet<u64>,
    in_cycle: &dyn Fn(u64) -> bool,
) -> Graph {
    let n = txns.len();
    let radius = match n {
        0 | 1 => 0.0,
        2 => 36.0,
        3 => 42.0,
        _ => (n as f64 * 15.0).clamp(56.0, 125.0),
    };
    // Room for the node boxes and the curves' labels outside the circle.
    let height = if n == 0 {
        40.0
    } else {
        radius * 2.0 + NODE_H + 44.0
    };
    // Two nodes stand one above the other: the labels need the width, not the circle.
    let width = if n == 2 {
        NODE_W + 70.0
    } else {
        radius * 2.0 + NODE_W + 40.0
    };
    let (cx, cy) = (width / 2.0, height / 2.0);
    let index: BTreeMap<u64, usize> = txns.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let nodes: Vec<GNode> = txns
        .iter()
        .enumerate()
        .map(|(i, t)| {
            // Start at the top, clockwise; sin/cos only place pixels.
            let angle =
                std::f64::consts::TAU * i as f64 / n.max(1) as f64 - std::f64::consts::FRAC_PI_2;
            GNode {
                kind: NodeKind::Txn(*t),
                x: cx + radius * angle.cos(),
                y: cy + radius * angle.sin(),
                owner: owners.contains(t),
                in_cycle: in_cycle(*t),
                victim: victims.contains(t),
            }
        })
        .collect();
    let edges = waits
        .iter()
        .map(|w| {
            let (from, to) = (index[&w.waiter], index[&w.owner]);
            let (path, label_at, anchor) = curve(
                (nodes[from].x, nodes[from].y),
                (nodes[to].x, nodes[to].y),
                22.0,
                NODE_H * 0.8,
            );
            GEdge {
                from,
                to,
                label: key_label(&w.keys),
                path,
                label_at,
                anchor,
                in_cycle: cycle_edges.contains(&(w.waiter, w.owner)),
            }
        })
        .collect();
    Graph {
        nodes,
        edges,
        width,
        height,
        total_txns: n,
        shown_txns: n,
        groups: 0,
        hidden_txns: 0,
        hidden_chains: 0,
    }
}

fn folded(
    waits: &[Wait],
    txns: &BTreeSet<u64>,
    owners: &BTreeSet<u64>,
    cycle_edges: &BTreeSet<(u64, u64)>,
    victims: &BTreeSet<u64>,
    in_cycle: &dyn Fn(u64) -> bool,
) -> Graph {
    // Right column: every owner (someone waits for it), and transactions of
    // recent cycles. Left column: the other waiters, folded per (key, owner).
    let mut right: Vec<u64> = txns
        .iter()
        .copied()
        .filter(|t| owners.contains(t) || in_cycle(*t))
        .collect();
    // Owners with the most waiters first.
    let mut waiting_on: BTreeMap<u64, usize> = BTreeMap::new();
    for w in waits {
        *waiting_on.entry(w.owner).or_default() += 1;
    }
    right.sort_by_key(|t| {
        (
            std::cmp::Reverse(waiting_on.get(t).copied().unwrap_or(0)),
            *t,
        )
    });
    let mut hidden: BTreeSet<u64> = BTreeSet::new();
    if right.len() > ROWS_MAX {
        hidden.extend(right.drain(ROWS_MAX..));
    }
    let right_set: BTreeSet<u64> = right.iter().copied().collect();
    let owner_rank: BTreeMap<u64, usize> = right.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    // (owner rank, key, owner) -> waiters
    let mut groups: BTreeMap<(usize, u64, u64), BTreeSet<u64>> = BTreeMap::new();
    for w in waits {
        if right_set.contains(&w.waiter) || hidden.contains(&w.waiter) {
            continue;
        }
        match owner_rank.get(&w.owner) {
            Some(rank) => {
                let key = w.keys.first().copied().unwrap_or(0);
                groups
                    .entry((*rank, key, w.owner))
                    .or_default()
                    .insert(w.waiter);
            }
            None => {
                hidden.insert(w.waiter);
            }
        }
    }
    // A waiter waiting on two keys of different owners goes into its first group only.
    let mut placed: BTreeSet<u64> = BTreeSet::new();
    let mut left: Vec<NodeKind> = Vec::new();
    for ((_, key, owner), members) in &groups {
        let members: Vec<u64> = members
            .iter()
            .copied()
            .filter(|m| !placed.contains(m))
            .collect();
        if members.is_empty() {
            continue;
        }
        placed.extend(members.iter().copied());
        if members.len() == 1 {
            left.push(NodeKind::Txn(members[0]));
        } else {
            left.push(NodeKind::Group {
                count: members.len(),
                key: *key,
                owner: *owner,
                members,
            });
        }
    }
    if left.len() > ROWS_MAX {
        for k in left.drain(ROWS_MAX..) {
            match k {
                NodeKind::Txn(t) => {
                    hidden.insert(t);
                }
                NodeKind::Group { members, .. } => hidden.extend(members),
            }
        }
    }
    let rows = left.len().max(right.len()).max(1);
    let height = rows as f64 * ROW + 20.0;
    let (lx, rx) = (NODE_W / 2.0 + 6.0, WIDTH - NODE_W / 2.0 - 84.0);
    let row_y = |i: usize, count: usize| {
        // Centre the shorter column.
        let offset = (rows - count) as f64 * ROW / 2.0;
        10.0 + offset + ROW * (i as f64 + 0.5)
    };
    let mut nodes: Vec<GNode> = Vec::new();
    let mut index: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, t) in right.iter().enumerate() {
        index.insert(*t, nodes.len());
        nodes.push(GNode {
            kind: NodeKind::Txn(*t),
            x: rx,
            y: row_y(i, right.len()),
            owner: owners.contains(t),
            in_cycle: in_cycle(*t),
            victim: victims.contains(t),
        });
    }
    let left_count = left.len();
    let mut group_nodes = 0;
    let mut shown = right.len();
    for (i, kind) in left.into_iter().enumerate() {
        match &kind {
            NodeKind::Txn(t) => {
                index.insert(*t, nodes.len());
                shown += 1;
            }
            NodeKind::Group { .. } => group_nodes += 1,
        }
        let t = match &kind {
            NodeKind::Txn(t) => Some(*t),
            NodeKind::Group { .. } => None,
        };
        nodes.push(GNode {
            kind,
            x: lx,
            y: row_y(i, left_count),
            owner: false,
            in_cycle: t.is_some_and(in_cycle),
            victim: t.is_some_and(|t| victims.contains(&t)),
        });
    }
    let mut edges = Vec::new();
    // Group edges (one per group).
    for (i, n) in nodes.iter().enumerate() {
        if let NodeKind::Group { key, owner, .. } = &n.kind {
            if let Some(&to) = index.get(owner) {
                let (path, label_at) = straight((n.x, n.y), (nodes[to].x, nodes[to].y));
                edges.push(GEdge {
                    from: i,
                    to,
                    label: format!("key {key}"),
                    path,
                    label_at,
                    anchor: "middle",
                    in_cycle: false,
                });
            }
        }
    }
    // Every wait between individually drawn transactions.
    for w in waits {
        let (Some(&from), Some(&to)) = (index.get(&w.waiter), index.get(&w.owner)) else {
            continue;
        };
        let (a, b) = ((nodes[from].x, nodes[from].y), (nodes[to].x, nodes[to].y));
        let (path, label_at) = if (a.0 - b.0).abs() < 1.0 {
            // Owner to owner, in the right column: an arc on the right,
            // wider for rows further apart.
            let bulge = (14.0 + (a.1 - b.1).abs() * 0.6).min(50.0);
            let x = a.0 + NODE_W / 2.0;
            (
                format!(
                    "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    x,
                    a.1,
                    x + bulge,
                    a.1,
                    x + bulge,
                    b.1,
                    x + 2.0,
                    b.1
                ),
                (x + bulge * 0.75 + 4.0, (a.1 + b.1) / 2.0 + 3.0),
            )
        } else {
            straight(a, b)
        };
        edges.push(GEdge {
            from,
            to,
            label: key_label(&w.keys),
            path,
            label_at,
            anchor: "middle",
            in_cycle: cycle_edges.contains(&(w.waiter, w.owner)),
        });
    }
    Graph {
        nodes,
        edges,
        width: WIDTH,
        height,
        total_txns: txns.len(),
        shown_txns: shown,
        groups: group_nodes,
        hidden_txns: hidden.len(),
        hidden_chains: 0,
    }
}

fn straight(a: (f64, f64), b: (f64, f64)) -> (String, (f64, f64)) {
    let dir = if b.0 >= a.0 { 1.0 } else { -1.0 };
    let start = (a.0 + dir * NODE_W / 2.0, a.1);
    let end = (b.0 - dir * (NODE_W / 2.0 + 2.0), b.1);
    (
        format!("M{:.1},{:.1} L{:.1},{:.1}", start.0, start.1, end.0, end.1),
        (
            start.0 + (end.0 - start.0) * 0.5,
            start.1 + (end.1 - start.1) * 0.5 - 4.0,
        ),
    )
}

/// Properties of [`GraphSvg`].
#[derive(Properties, PartialEq)]
pub struct GraphSvgProps {
    /// The laid-out graph.
    pub graph: Rc<Graph>,
    /// DOM id of the `<svg>`.
    pub id: AttrValue,
    /// Text when the graph is empty.
    pub empty: AttrValue,
    /// Phase of each transaction, for node colours and tooltips.
    #[prop_or_default]
    pub phases: Rc<BTreeMap<u64, TxnPhase>>,
}

fn phase_name(p: TxnPhase) -> &'static str {
    match p {
        TxnPhase::Locking => "locking",
        TxnPhase::Waiting => "waiting",
        TxnPhase::Holding => "holding",
        TxnPhase::Prewriting => "prewriting",
        TxnPhase::Committing => "committing",
        TxnPhase::RollingBack => "rolling back",
    }
}

/// One wait-for graph as SVG.
#[component]
pub fn GraphSvg(props: &GraphSvgProps) -> Html {
    let g = &props.graph;
    if g.nodes.is_empty() {
        return html! { <div class="wf-empty" id={props.id.clone()} data-nodes="0" data-edges="0">{ props.empty.clone() }</div> };
    }
    let marker_id = format!("{}-arrow", props.id);
    let marker_red = format!("{}-arrow-red", props.id);
    let edges = g.edges.iter().map(|e| {
        let (waiter, owner) = match (&g.nodes[e.from].kind, &g.nodes[e.to].kind) {
            (NodeKind::Txn(a), NodeKind::Txn(b)) => (a.to_string(), b.to_string()),
            (NodeKind::Group { count, .. }, NodeKind::Txn(b)) => (format!("group of {count}"), b.to_string()),
            _ => (String::new(), String::new()),
        };
        let marker = format!("url(#{})", if e.in_cycle { &marker_red } else { &marker_id });
        html! {
            <g class={classes!("wf-edge", e.in_cycle.then_some("cycle"))} data-waiter={waiter.clone()} data-owner={owner.clone()}>
                <title>{ format!("{waiter} waits for the lock of {owner} on {}", e.label) }</title>
                <path d={e.path.clone()} marker-end={marker} />
                <text class="wf-edge-label" x={format!("{:.1}", e.label_at.0)} y={format!("{:.1}", e.label_at.1)} text-anchor={e.anchor}>{ e.label.clone() }</text>
            </g>
        }
    });
    let nodes = g.nodes.iter().map(|n| {
        let (x, y) = (n.x - NODE_W / 2.0, n.y - NODE_H / 2.0);
        match &n.kind {
            NodeKind::Txn(ts) => {
                let phase = props.phases.get(ts).copied();
                let class = classes!(
                    "wf-node",
                    n.owner.then_some("owner"),
                    n.in_cycle.then_some("cycle"),
                    n.victim.then_some("victim"),
                    phase.map(|p| format!("phase-{}", phase_name(p).replace(' ', "-")))
                );
                let tip = format!(
                    "transaction start_ts {ts}{}{}{}",
                    phase.map(|p| format!(", {}", phase_name(p))).unwrap_or_default(),
                    if n.owner { ", holds a lock others wait for" } else { "" },
                    if n.victim { ", deadlock victim" } else { "" }
                );
                html! {
                    <g class={class} data-ts={ts.to_string()}>
                        <title>{ tip }</title>
                        <rect x={format!("{x:.1}")} y={format!("{y:.1}")} width={NODE_W.to_string()} height={NODE_H.to_string()} rx="5" />
                        <text x={format!("{:.1}", n.x)} y={format!("{:.1}", n.y + 4.0)} text-anchor="middle">
                            { if n.victim { format!("✕ txn {}", short_ts(*ts)) } else { format!("txn {}", short_ts(*ts)) } }
                        </text>
                    </g>
                }
            }
            NodeKind::Group { count, key, owner, members } => {
                let list: Vec<String> = members.iter().take(40).map(|m| m.to_string()).collect();
                let tip = format!(
                    "{count} transactions wait for the lock of {owner} on key {key}: {}{}",
                    list.join(", "),
                    if members.len() > 40 { ", …" } else { "" }
                );
                html! {
                    <g class="wf-node group" data-count={count.to_string()} data-key={key.to_string()}>
                        <title>{ tip }</title>
                        <rect class="stack" x={format!("{:.1}", x + 4.0)} y={format!("{:.1}", y - 4.0)} width={NODE_W.to_string()} height={NODE_H.to_string()} rx="5" />
                        <rect x={format!("{x:.1}")} y={format!("{y:.1}")} width={NODE_W.to_string()} height={NODE_H.to_string()} rx="5" />
                        <text x={format!("{:.1}", n.x)} y={format!("{:.1}", n.y + 4.0)} text-anchor="middle">{ format!("{count} waiters") }</text>
                    </g>
                }
            }
        }
    });
    let view_box = format!("0 0 {:.0} {:.0}", g.width, g.height);
    html! {
        <svg id={props.id.clone()} class="wf-svg" viewBox={view_box} preserveAspectRatio="xMidYMin meet"
            style={format!("max-width:{:.0}px", g.width * 1.1)}
            data-nodes={g.nodes.len().to_string()} data-edges={g.edges.len().to_string()}>
            <defs>
                <marker id={marker_id.clone()} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                    <path d="M0,0 L10,5 L0,10 z" class="wf-arrow" />
                </marker>
                <marker id={marker_red.clone()} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                    <path d="M0,0 L10,5 L0,10 z" class="wf-arrow cycle" />
                </marker>
            </defs>
            { for edges }
            { for nodes }
        </svg>
    }
}

/// A deadlock's wait chain as one line: `3003 →key 13→ 3001 →key 11→ 3002 →key 12→ 3003`.
pub fn chain_text(chain: &[(u64, u64, u64)]) -> String {
    let Some((first, _, _)) = chain.first() else {
        return String::new();
    };
    let mut s = first.to_string();
    for (_, wait_for, key) in chain {
        s.push_str(&format!(" →key {key}→ {wait_for}"));
    }
    s
}

/// The local waits of `store`'s waiter manager.
pub fn store_waits(view: &LockView, store: u64) -> Vec<Wait> {
    view.waits
        .iter()
        .filter(|w| w.store == store)
        .map(|w| Wait {
            waiter: w.waiter_ts,
            owner: w.lock_ts,
            keys: vec![w.key],
        })
        .collect()
}

/// The detector leader's detect table as waits.
pub fn detect_waits(view: &LockView) -> Vec<Wait> {
    view.detect_table
        .iter()
        .map(|e| Wait {
            waiter: e.txn_ts,
            owner: e.wait_for_ts,
            keys: e.keys.clone(),
        })
        .collect()
}

/// The default store for the local waiters: a follower of the detector with
/// the most waiters, else the store with the most waiters, else the first.
pub fn default_store(view: &LockView) -> Option<u64> {
    view.stores
        .iter()
        .max_by_key(|s| {
            (
                view.detector_leader != Some(s.store),
                s.waiters,
                std::cmp::Reverse(s.store),
            )
        })
        .map(|s| s.store)
}

/// Properties of [`WaitForPanel`].
#[derive(Properties, PartialEq)]
pub struct WaitForProps {
    /// The snapshot (its lock side is drawn).
    pub frame: Rc<Frame>,
}

/// The wait-for graph panel.
#[component]
pub fn WaitForPanel(props: &WaitForProps) -> Html {
    let picked = use_state(|| None::<u64>);
    // Without a pick, follow the busiest store, but stay on it while it has
    // waiters (or is down), so the graph does not jump between stores.
    let auto = use_mut_ref(|| None::<u64>);
    let Some(lf) = props.frame.locks.as_ref() else {
        return html! {};
    };
    let view = &lf.view;
    let auto_store = {
        let mut auto = auto.borrow_mut();
        let keep = auto
            .and_then(|a| view.stores.iter().find(|s| s.store == a))
            .is_some_and(|s| s.waiters > 0 || !s.up || view.stores.iter().all(|o| o.waiters == 0));
        if !keep {
            *auto = default_store(view);
        }
        *auto
    };
    let store = picked
        .filter(|s| view.stores.iter().any(|v| v.store == *s))
        .or(auto_store);
    let (cycle_edges, victims) = recent_cycles(&view.deadlocks, lf.now_ms);
    let local = Rc::new(build(
        &store.map(|s| store_waits(view, s)).unwrap_or_default(),
        &cycle_edges,
        &victims,
    ));
    let detect = Rc::new(build(&detect_waits(view), &cycle_edges, &victims));
    let phases: Rc<BTreeMap<u64, TxnPhase>> =
        Rc::new(view.txns.iter().map(|t| (t.start_ts, t.phase)).collect());
    let waiting = view
        .txns
        .iter()
        .filter(|t| t.phase == TxnPhase::Waiting)
        .count();
    let onchange = {
        let picked = picked.clone();
        Callback::from(move |e: Event| {
            if let Some(sel) = e.target_dyn_into::<HtmlSelectElement>() {
                // Only values this select offers come back; anything else is ignored.
                if let Ok(s) = sel.value().parse::<u64>() {
                    picked.set(Some(s));
                }
            }
        })
    };
    let leader = view.detector_leader;
    let last = view.deadlocks.last();
    let ring = last.map(|d| {
        let waits: Vec<Wait> = d
            .wait_chain
            .iter()
            .map(|(a, b, k)| Wait {
                waiter: *a,
                owner: *b,
                keys: vec![*k],
            })
            .collect();
        let edges: BTreeSet<(u64, u64)> = d.wait_chain.iter().map(|(a, b, _)| (*a, *b)).collect();
        Rc::new(build(&waits, &edges, &BTreeSet::from([d.victim_ts])))
    });
    let note = |g: &Graph| match g.folding_note() {
        Some(n) => html! { <div class="wf-note folded">{ n }</div> },
        None if g.total_txns > 0 => {
            html! { <div class="wf-note">{ format!("all {} transactions drawn", g.total_txns) }</div> }
        }
        None => html! {},
    };
    html! {
        <div class="panel wf-panel" id="wait-for-panel">
            <div class="panel-head">
                <h2>{"Wait-for graph"}</h2>
                <span class="panel-sub" id="txn-summary">
                    { format!("{} transactions in flight, {} waiting · hot keys: {}", view.txns.len(), waiting,
                        if view.hot_keys.is_empty() { "none".to_string() } else { view.hot_keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ") }) }
                </span>
            </div>
            <div class="wf-cols">
                <div class="wf-col" id="wf-local">
                    <div class="wf-col-head">
                        <span>{"Waiter manager of "}</span>
                        <select id="wf-store" {onchange} title="Whose local waiters (WaitTable) to show">
                            { for view.stores.iter().map(|s| html! {
                                <option value={s.store.to_string()} selected={Some(s.store) == store}>
                                    { format!("store {}{} ({} waiters)", s.store, if leader == Some(s.store) { " · detector leader" } else { "" }, s.waiters) }
                                </option>
                            }) }
                        </select>
                    </div>
                    { note(&local) }
                    <GraphSvg graph={local.clone()} id="wf-local-svg" phases={phases.clone()}
                        empty={format!("No transaction waits in store {}'s waiter manager now.", store.unwrap_or(0))} />
                </div>
                <div class="wf-col" id="wf-detect">
                    <div class="wf-col-head">
                        <span>{ match leader {
                            Some(l) => format!("Detect table on the detector leader, store {l}"),
                            None => "Detect table (no detector leader now)".to_string(),
                        } }</span>
                        <span class="muted small">{ format!(" · {} edge{}", view.detect_table.len(), if view.detect_table.len() == 1 { "" } else { "s" }) }</span>
                    </div>
                    { note(&detect) }
                    <GraphSvg graph={detect.clone()} id="wf-detect-svg" phases={phases.clone()}
                        empty="The detect table is empty: no wait-for edge reached the detector leader (or they expired)." />
                </div>
            </div>
            <div class="wf-deadlocks" id="wf-deadlocks">
                <div class="wf-col-head">
                    <span>{"Last deadlock"}</span>
                    <span class="muted small">{ format!(" · {} found so far (counter deadlocks_detected: {})",
                        view.deadlocks.len(), lf.deadlocks_detected) }</span>
                </div>
                { match (last, ring) {
                    (Some(d), Some(ring)) => html! {
                        <div class={classes!("wf-ring", (d.at_ms + RECENT_DEADLOCK_MS >= lf.now_ms).then_some("recent"))}>
                            <GraphSvg graph={ring} id="wf-ring-svg" phases={phases.clone()} empty="" />
                            <div class="wf-ring-text">
                                <div>{ format!("found at {} on the detector leader", format::secs_ms(d.at_ms)) }</div>
                                <div class="bad">{ format!("victim: txn {} (gets Deadlock, rolls back)", d.victim_ts) }</div>
                                <div class="mono small">{ chain_text(&d.wait_chain) }</div>
                            </div>
                        </div>
                    },
                    _ => html! { <div class="muted small">{"No deadlock found yet."}</div> },
                } }
            </div>
        </div>
    }
}
