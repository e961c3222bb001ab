//! The change model: what a subject changes, built once from git objects with gix.
//!
//! Every door judges the same shapes: a [`Unit`] is one thing to judge (the staged index, a
//! range, or one ref update), holding the commits new to the repository, each with its
//! [`FileChange`]s, and the cumulative change from the base to the new tip.

use gix::ObjectId;
use serde::Serialize;

/// What happened to a path, as `git diff-tree --name-status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Add,
    Modify,
    Delete,
    Rename,
    Copy,
    /// Blob to symlink, file to gitlink and the like (`T`).
    TypeChange,
    /// Same content, other mode (`M` with only the mode changed).
    ModeChange,
}

impl ChangeKind {
    /// The name the policy's `tests.flag_on` uses.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Add => "add",
            ChangeKind::Modify => "modify",
            ChangeKind::Delete => "delete",
            ChangeKind::Rename => "rename",
            ChangeKind::Copy => "copy",
            ChangeKind::TypeChange => "type-change",
            ChangeKind::ModeChange => "mode-change",
        }
    }

    /// The letter git's `--name-status` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Add => 'A',
            ChangeKind::Modify | ChangeKind::ModeChange => 'M',
            ChangeKind::Delete => 'D',
            ChangeKind::Rename => 'R',
            ChangeKind::Copy => 'C',
            ChangeKind::TypeChange => 'T',
        }
    }
}

/// One added line, with its 1-based line number in the new file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub number: u32,
    pub text: String,
}

/// How the added lines of a file were read, for the rules that read content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// UTF-8 (or near enough) text: every line the new side adds.
    #[default]
    Text,
    /// UTF-16 text (a byte-order mark, or NULs in every other byte), decoded.
    Utf16,
    /// A binary new side: the lines holding printable runs that the old side lacks.
    Binary,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub kind: ChangeKind,
    /// The path before (absent for an addition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// The path after (absent for a deletion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_path: Option<String>,
    /// Octal modes as git prints them (`100644`, `100755`, `120000`, `160000`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_mode")]
    pub old_mode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_mode")]
    pub new_mode: Option<u32>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub old_id: Option<ObjectId>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub new_id: Option<ObjectId>,
    /// Either side is binary (git's numstat then prints `-`); line counts are then 0.
    pub binary: bool,
    /// Size in bytes of the new blob (of the old one for a deletion); 0 for gitlinks.
    pub size: u64,
    pub added: u32,
    pub removed: u32,
    /// Added lines, for rules that read content: of the new side as [`Encoding`] says, even
    /// when git calls the change binary (`binary` and the counts stay as git reports them).
    /// Not serialized.
    #[serde(skip)]
    pub added_lines: Vec<Line>,
    /// How `added_lines` were read.
    #[serde(skip)]
    pub added_encoding: Encoding,
    /// Removed lines (text files only). Not serialized.
    #[serde(skip)]
    pub removed_lines: Vec<String>,
    /// Both sides' bytes, kept only for the files the tests rule parses
    /// ([`crate::engine::rules::tests::reads_content`]), and only where it reads them: in a
    /// unit's cumulative change (a single commit's or the index's files are their own, and so
    /// are those of each commit of a range), never in the commits of a ref update, which are
    /// judged together. Not serialized.
    #[serde(skip)]
    pub old_content: Option<Blob>,
    #[serde(skip)]
    pub new_content: Option<Blob>,
}

/// The bytes of one side of a change, shared between the clones of a change.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob(pub std::sync::Arc<Vec<u8>>);

impl Blob {
    pub fn new(data: Vec<u8>) -> Blob {
        Blob(std::sync::Arc::new(data))
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl FileChange {
    /// The path this change is known by: the new path, else the old one.
    pub fn path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or_default()
    }

    /// Both paths (one for add, modify, delete; two for a rename or copy).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let old = self.old_path.as_deref();
        let new = self.new_path.as_deref().filter(|n| Some(*n) != old);
        old.into_iter().chain(new)
    }

    pub fn is_symlink(&self) -> bool {
        self.new_mode == Some(0o120000)
    }

    pub fn is_gitlink(&self) -> bool {
        self.new_mode == Some(0o160000) || self.old_mode == Some(0o160000)
    }
}

/// One commit and what it changes against its first parent (the empty tree for a root).
#[derive(Debug, Clone, Serialize)]
pub struct CommitChanges {
    /// Absent for the staged index, which is not a commit yet.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub id: Option<ObjectId>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub tree: Option<ObjectId>,
    #[serde(serialize_with = "ser_oids")]
    pub parents: Vec<ObjectId>,
    pub summary: String,
    #[serde(skip)]
    pub message: String,
    pub files: Vec<FileChange>,
}

/// How a ref moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateKind {
    Create,
    FastForward,
    NonFastForward,
    Delete,
    /// Old equals new.
    Unchanged,
}

/// One `old new ref` line, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefUpdate {
    #[serde(serialize_with = "ser_oid")]
    pub old: ObjectId,
    #[serde(serialize_with = "ser_oid")]
    pub new: ObjectId,
    pub name: String,
}

impl RefUpdate {
    pub fn is_create(&self) -> bool {
        self.old.is_null()
    }
    pub fn is_delete(&self) -> bool {
        self.new.is_null()
    }
}

/// An annotated tag object a ref update brings, with its message (secrets are looked for
/// there too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagMessage {
    #[serde(serialize_with = "ser_oid")]
    pub id: ObjectId,
    #[serde(skip)]
    pub message: String,
}

/// One thing judged: the staged change, a range, or one ref update.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unit {
    /// The ref update, for pushes and receives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<RefUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<UpdateKind>,
    /// The base the cumulative change is measured from (absent: the empty tree).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub base: Option<ObjectId>,
    /// Commits new to the repository, oldest first.
    pub commits: Vec<CommitChanges>,
    /// The change from the base to the tip, taken as one.
    pub cumulative: Vec<FileChange>,
    /// Annotated tags the update brings (a tag of a tag: each of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagMessage>,
    /// Entries `git fsck` rejects in the trees the update brings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub malformed: Vec<MalformedEntry>,
    /// A fast-forward whose new tip's first-parent line does not pass through the previous tip
    /// (a merge whose first parent is not the branch as it was): the cumulative change, from
    /// the previous tip, is then judged as the new tip's own change too, so what came in
    /// through another parent is not hidden behind a first parent that already holds it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub off_first_parent_line: bool,
    /// For a ref proposing a change (a branch of the agent namespace): the branch taken as a
    /// whole against the base branch, whatever the pushes it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<Proposal>,
    /// What the symbolic links of the new tip's tree do to the unit's paths.
    #[serde(skip_serializing_if = "Links::is_empty")]
    pub links: Links,
    /// Tips the repository already had that the new tip is known to descend from (the walk
    /// reached them): each is its own merge base with the new tip. Not every such tip need be
    /// here; a tip here always is one.
    #[serde(skip)]
    pub ancestors: Vec<ObjectId>,
    /// The test files of `cumulative` already parsed, when the model parsed them beside its
    /// diff ([`crate::engine::rules::tests::Parses`]); the tests rule parses them otherwise.
    #[serde(skip)]
    pub parses: Option<std::sync::Arc<crate::engine::rules::tests::Parses>>,
}

/// What the symbolic links of a tip tree do to the paths a unit changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Links {
    /// Paths reachable under another name through a link of the tip tree: a changed file
    /// reached through an existing link, and every file a new or changed link reaches.
    pub aliases: Vec<LinkAlias>,
    /// Links the unit adds or changes whose target leaves the tree.
    pub outside: Vec<OutsideLink>,
}

impl Links {
    pub fn is_empty(&self) -> bool {
        self.aliases.is_empty() && self.outside.is_empty()
    }
}

/// A path of the tip tree as reached through a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkAlias {
    /// The path as reached (`config/production.yml`).
    pub path: String,
    /// The path in the tree (`cfg/production.yml`).
    pub real: String,
    /// The link it is reached through (`config`), and its target as written (`cfg`).
    pub link: String,
    pub target: String,
}

/// A link whose target leaves the tree (absolute, or `..` past the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutsideLink {
    /// The commit that adds or changes it (absent: the cumulative change only).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub commit: Option<ObjectId>,
    pub path: String,
    pub target: String,
}

/// A proposed change: a branch against the base branch it is to be merged into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// The base branch, as a full ref name (`refs/heads/main`).
    pub base_ref: String,
    /// Its tip before the push (absent: it does not exist).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub base_tip: Option<ObjectId>,
    /// The merge base of the base branch's tip and the new tip, where the change starts
    /// (absent: no base branch or no common history, so the change starts at the empty tree).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub merge_base: Option<ObjectId>,
    /// The change from the merge base to the new tip (counts and paths; no line text).
    pub change: Vec<FileChange>,
}

/// A tree entry `git fsck` rejects, in a tree an update brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedEntry {
    /// The commit whose tree holds it (absent: a ref naming a tree).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub commit: Option<ObjectId>,
    #[serde(serialize_with = "ser_oid")]
    pub tree: ObjectId,
    /// Where the tree sits in the commit's tree (empty: the root).
    pub dir: String,
    /// The entry's name as stored, with anything unprintable escaped (empty for a tree that
    /// does not parse).
    pub name: String,
    pub problem: crate::engine::fsck::TreeProblem,
}

impl Unit {
    pub fn refname(&self) -> Option<&str> {
        self.update.as_ref().map(|u| u.name.as_str())
    }
}

/// Modes as git prints them: six octal digits (`100644`).
fn ser_mode<S: serde::Serializer>(mode: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match mode {
        Some(m) => s.collect_str(&format_args!("{m:06o}")),
        None => s.serialize_none(),
    }
}

fn ser_oid<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn ser_oid_opt<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

fn ser_oids<S: serde::Serializer>(ids: &[ObjectId], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ids.iter().map(|i| i.to_string()))
}
