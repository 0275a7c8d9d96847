//! The configuration `auditgraph init` writes: every default spelled out and
//! commented. A unit test checks that it loads to exactly
//! [`super::Config::default`], so the two cannot drift apart.

pub const DEFAULT_CONFIG_YAML: &str = r#"# auditgraph configuration (config/pkg.yaml)
#
# Every key below is set to its built-in default. Delete a key to get the
# default back; unknown keys are reported as warnings. JSON works too.

# Accepted for compatibility with the Python auditgraph; the store always
# lives in <root>/.pkg.
pkg_root: "."

# The profile used when --profile is not given. Each profile has its own
# store under .pkg/profiles/<name>/ and its own settings under `profiles`.
active_profile: "default"

run_metadata:
  # A label recorded in every manifest; changing it starts new runs.
  pipeline_version: "v0.1.0"

security:
  redaction:
    # Secrets are replaced at parse entry by <<redacted:<category>:<hmac>>>
    # markers, before anything is written.
    enabled: true
    policy_id: "redaction.policy.v1"
    policy_version: "v1"
    detectors:
      - "pem_private_key"
      - "jwt"
      - "bearer_token"
      - "credential_kv"
      - "url_credentials"
      - "vendor_token"

storage:
  footprint_budget:
    # The store may use at most multiplier x max(source bytes, 1 MiB).
    multiplier: 3.0
    # Warn from this share of the limit on ...
    warn_threshold: 0.8
    # ... and refuse to write from this share on (nothing is written).
    block_threshold: 1.0

profiles:
  default:
    # Paths relative to the workspace root to ingest ("." is everything).
    include_paths:
      - "."
    # Paths matching any of these globs are not ingested. The store itself
    # (.pkg) is never ingested.
    exclude_globs:
      - "**/.pkg/**"
      - "**/.git/**"
      - "**/node_modules/**"
      - "exports/**"
    normalization:
      unicode: "NFC"
      line_endings: "LF"
      path_style: "posix"
    ingestion:
      # Files with other extensions are recorded as skipped.
      allowed_extensions:
        - ".md"
        - ".markdown"
        - ".txt"
        - ".log"
        - ".html"
        - ".htm"
        - ".docx"
        - ".pdf"
        - ".doc"
      # Larger files are recorded as skipped (too_large) and not read.
      max_file_size_bytes: 209715200
      # Chunks are windows of this many whitespace-separated tokens ...
      chunk_tokens: 200
      # ... each sharing this many tokens with the previous one.
      chunk_overlap_tokens: 40
      # off, auto or on. With auto or on, PDF pages without text (scans)
      # are read by OCR with pdftoppm and tesseract (Debian poppler-utils,
      # tesseract-ocr, tesseract-ocr-eng) when they are installed.
      ocr_mode: "off"
      # Front-matter fields shown in summaries (all fields are kept).
      frontmatter_schema:
        - "title"
        - "tags"
        - "project"
        - "status"
    extraction:
      # Accepted for compatibility with the Python auditgraph; not interpreted.
      rule_packs: []
      markdown:
        # Sections, technologies (code) and references from Markdown.
        enabled: true
    linking:
      # Accepted for compatibility with the Python auditgraph; not interpreted.
      rule_packs: []
      # relates_to edges between notes that mention a common technology.
      cooccurrence:
        enabled: true
        # Technologies mentioned by more notes than this relate nothing
        # (a word everyone uses says little about two notes).
        max_document_frequency: 20
        # Each note keeps at most this many relations, the strongest first.
        max_related_per_note: 10
    search:
      keyword:
        enabled: true
      semantic:
        enabled: false
      ranking:
        w_kw: 1.0
        w_sem: 0.3
        w_graph: 0.1
        score_rounding: 0.000001
    # Commits, authors, tags and branches of the workspace's git repository
    # (see docs/git-provenance.md). Read only: nothing is written into .git.
    git_provenance:
      enabled: false
      # Scored commits kept besides the structural ones (roots, merges,
      # tagged commits, branch heads, commits touching hot_paths).
      max_tier2_commits: 1000
      hot_paths: []
      # Changes to these paths do not count towards a commit's score.
      cold_paths:
        - "*.lock"
        - "*-lock.json"
        - "*.generated.*"
"#;
