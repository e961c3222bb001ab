//! The walk itself: which commits a push brings, found by painting history from the tip and
//! from every hidden tip, each commit read once, and their parent order.

use super::*;

/// A commit the walk reached from the tip, as read once: what it says, and its first parent's
/// tree (none: a root commit, or a first parent that is not a commit).
pub(super) struct Visible {
    pub(super) id: ObjectId,
    pub(super) head: Head,
    pub(super) old_tree: Option<ObjectId>,
}

/// What the walk paints a commit with: reached from the tip, reached from a hidden tip, and
/// reached from a commit reached from both (below which nothing is new).
const VISIBLE: u8 = 1;
const HIDDEN: u8 = 2;
const STALE: u8 = 4;
/// Already given out by [`Painter::next_visible`].
const GIVEN: u8 = 8;

struct Node {
    flags: u8,
    /// How many times it sits in the queue (it is queued again each time its paint grows).
    queued: u32,
    time: i64,
    tree: ObjectId,
    parents: Vec<ObjectId>,
    /// The commit's message, kept until it is given out (reached from the tip).
    message: Option<String>,
}

/// The commits reachable from a tip and from none of the hidden tips, each read once: the
/// history is painted newest first from the tip and from every hidden tip, and the walk goes
/// on until every commit still queued is reached from both (what lies below is old), exactly
/// as gix's and git's `rev-list tip --not hidden` decide it, so the set never depends on
/// commit dates. A commit is given out when it is taken from the queue reached from the tip
/// only, so that workers can diff it while the walk goes on; with commit dates out of order
/// the paint from a hidden tip may still reach it later, and [`Painter::final_order_of`]
/// leaves it out then, with everything reached only through it.
pub(super) struct Painter<'r> {
    repo: &'r gix::Repository,
    tip: ObjectId,
    nodes: gix::hashtable::HashMap<ObjectId, Node>,
    /// Newest first; among equal dates, first queued first.
    queue: std::collections::BinaryHeap<(i64, std::cmp::Reverse<u64>, ObjectId)>,
    queued: u64,
    /// Queue entries whose commit is not stale: the walk ends when there is none.
    live: usize,
}

impl<'r> Painter<'r> {
    pub(super) fn new(
        repo: &'r gix::Repository,
        tip: ObjectId,
        hidden: &[ObjectId],
    ) -> Result<Self> {
        let mut p = Painter {
            repo,
            tip,
            nodes: Default::default(),
            queue: Default::default(),
            queued: 0,
            live: 0,
        };
        p.paint(tip, VISIBLE, true)?;
        for &h in hidden {
            // A ref may name a tree or a blob: it hides no commit.
            p.paint(h, HIDDEN, false)?;
        }
        Ok(p)
    }

    /// Add `flags` to commit `id`, reading it the first time; queue it when its paint grew.
    /// A hidden tip that is not a commit is left out; anything else missing is an error.
    fn paint(&mut self, id: ObjectId, flags: u8, must: bool) -> Result<()> {
        let node = match self.nodes.get_mut(&id) {
            Some(n) => n,
            None => match self.read(id, must)? {
                Some(n) => self.nodes.entry(id).or_insert(n),
                None => return Ok(()),
            },
        };
        let before = node.flags;
        if before & flags == flags {
            return Ok(());
        }
        node.flags |= flags;
        if before & STALE == 0 && node.flags & STALE != 0 {
            self.live -= node.queued as usize;
        }
        node.queued += 1;
        if node.flags & STALE == 0 {
            self.live += 1;
        }
        self.queued += 1;
        self.queue
            .push((node.time, std::cmp::Reverse(self.queued), id));
        Ok(())
    }

    fn read(&self, id: ObjectId, must: bool) -> Result<Option<Node>> {
        let obj = match self.repo.find_object(id) {
            Ok(o) => o,
            Err(_) if !must && !self.repo.has_object(id) => return Ok(None),
            Err(e) => {
                return Err(anyhow!("{e}")).with_context(|| missing(self.repo, id, "commit"));
            }
        };
        if obj.kind != gix::object::Kind::Commit {
            if must {
                bail!("object {id} is a {}, not a commit", obj.kind);
            }
            return Ok(None);
        }
        let c = gix::objs::CommitRef::from_bytes(&obj.data, self.repo.object_hash())
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("commit {id} cannot be parsed; hint: `git fsck`"))?;
        Ok(Some(Node {
            flags: 0,
            queued: 0,
            time: c.time().map(|t| t.seconds).unwrap_or(0),
            tree: c.tree(),
            parents: c.parents().collect(),
            message: Some(c.message.to_str_lossy().into_owned()),
        }))
    }

    /// The next commit reached from the tip only, in the order the walk takes them.
    pub(super) fn next_visible(&mut self) -> Result<Option<Visible>> {
        while self.live > 0 {
            let Some((_, _, id)) = self.queue.pop() else {
                break;
            };
            let node = self.nodes.get_mut(&id).expect("queued commits are read");
            node.queued -= 1;
            if node.flags & STALE == 0 {
                self.live -= 1;
            }
            let mut flags = node.flags & (VISIBLE | HIDDEN | STALE);
            if flags & (VISIBLE | HIDDEN) == VISIBLE | HIDDEN {
                flags |= STALE;
            }
            let give = node.flags & (VISIBLE | HIDDEN | GIVEN) == VISIBLE;
            if give {
                node.flags |= GIVEN;
            } else if flags & HIDDEN != 0 {
                // Old history: never given out.
                node.message = None;
            }
            // Taken while the parents are painted (which needs the whole walk), then put back:
            // a commit is taken again each time its paint grows.
            let parents = std::mem::take(&mut node.parents);
            let painted = parents.iter().try_for_each(|&p| self.paint(p, flags, true));
            let old_tree = parents
                .first()
                .and_then(|p| self.nodes.get(p))
                .map(|n| n.tree);
            let node = self.nodes.get_mut(&id).expect("read above");
            let head = give.then(|| Head {
                tree: node.tree,
                parents: parents.clone(),
                message: node.message.take().unwrap_or_default(),
            });
            node.parents = parents;
            painted?;
            if let Some(head) = head {
                return Ok(Some(Visible { id, head, old_tree }));
            }
        }
        Ok(None)
    }

    /// The tips of `hidden` the paint from the tip reached: ancestors of the tip.
    pub(super) fn reached(&self, hidden: &[ObjectId]) -> Vec<ObjectId> {
        hidden
            .iter()
            .copied()
            .filter(|h| self.nodes.get(h).is_some_and(|n| n.flags & VISIBLE != 0))
            .collect()
    }

    /// Positions in `found` of the commits still new once the walk ended (none reached from
    /// a hidden tip), oldest first.
    pub(super) fn final_order(&self, found: &[Visible]) -> Vec<usize> {
        let ids: Vec<(ObjectId, Vec<ObjectId>)> = found
            .iter()
            .map(|v| (v.id, v.head.parents.clone()))
            .collect();
        self.final_order_of(&ids)
    }

    pub(super) fn final_order_of(&self, found: &[(ObjectId, Vec<ObjectId>)]) -> Vec<usize> {
        // New: reached from the tip without passing a commit that a hidden tip reaches too
        // (below one, everything is old, painted or not).
        let hidden = |id: &ObjectId| self.nodes.get(id).is_none_or(|n| n.flags & HIDDEN != 0);
        let index: gix::hashtable::HashMap<ObjectId, usize> = found
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let mut keep = vec![false; found.len()];
        let mut stack: Vec<usize> = index
            .get(&self.tip)
            .filter(|_| !hidden(&self.tip))
            .copied()
            .into_iter()
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            for p in &found[i].1 {
                if let Some(&j) = index.get(p)
                    && !keep[j]
                    && !hidden(p)
                {
                    stack.push(j);
                }
            }
        }
        let new: Vec<usize> = (0..found.len()).filter(|&i| keep[i]).collect();
        if new.len() == found.len() {
            return topo_order(found);
        }
        let kept: Vec<(ObjectId, Vec<ObjectId>)> = new.iter().map(|&i| found[i].clone()).collect();
        topo_order(&kept).into_iter().map(|j| new[j]).collect()
    }
}

/// Positions in `found` (walked newest first, with their parents), oldest first: every commit
/// after its parents among them; unrelated branches keep their walk order.
fn topo_order(found: &[(ObjectId, Vec<ObjectId>)]) -> Vec<usize> {
    let index: gix::hashtable::HashMap<ObjectId, usize> = found
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut out = Vec::with_capacity(found.len());
    let mut done = vec![false; found.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    // Depth-first from the first walked, emitting a commit once all its parents in the set
    // are out.
    for start in 0..found.len() {
        if done[start] {
            continue;
        }
        stack.push((start, 0));
        while let Some((i, next)) = stack.pop() {
            if done[i] {
                continue;
            }
            let ps = &found[i].1;
            let pending = ps[next..]
                .iter()
                .position(|p| index.get(p).is_some_and(|&j| !done[j]));
            match pending {
                Some(off) => {
                    let p = index[&ps[next + off]];
                    stack.push((i, next + off + 1));
                    stack.push((p, 0));
                }
                None => {
                    done[i] = true;
                    out.push(i);
                }
            }
        }
    }
    out
}
