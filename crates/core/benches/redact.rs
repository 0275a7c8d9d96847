//! Redaction throughput.
//!
//! `cargo bench -p auditgraph-core --bench redact`
//!
//! * `clean_md`: ~300 KB of synthetic but realistic Markdown (prose,
//!   headings, lists, tables, fenced Rust/shell/YAML, tldr-style command
//!   placeholders, links) with no secret: the common case, one prefilter
//!   pass plus the few detectors whose trigger words occur.
//! * `with_secrets_md`: the same text with a dozen secrets of every kind.
//! * `tldr_en` / `rust_book`: every `.md` file of the shared corpora, one
//!   `redact` call per file as ingest does (skipped when the corpora are
//!   absent; `AUDITGRAPH_CORPORA` overrides `/work/shared/corpora`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use auditgraph_core::redact::{RedactionPolicy, Redactor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SECTION: &str = r#"## Configuring the build cache

The build cache stores compiled artifacts keyed by the hash of their inputs,
so that a second build of the same sources is almost free. Each entry records
the token stream of the macro expansion, the password-less SSH agent socket it
used, and the secret number that the guessing game generated in chapter two.

- Run `cargo build --release` to fill the cache.
- Use `tldr tar` to see common flags, e.g. `tar -czf {{archive.tar.gz}} {{path/to/dir}}`.
- Connect with `mysql -u {{user}} -p{{password}} {{database}}`.
- Log in with `gh auth login --with-token < {{path/to/token.txt}}`.
- Pass a header: `curl -H "Authorization: Bearer {{token}}" {{https://example.com}}`.

| option | type | description |
|---|---|---|
| `api_key` | string | Your API key. |
| `password` | required | The user's password. |
| `timeout` | integer | Seconds before giving up. |

```rust
use std::collections::HashMap;

fn main() {
    let mut scores = HashMap::new();
    let key = String::from("Blue");
    scores.insert(key, 10);
    let secret_number = rand::thread_rng().gen_range(1..=100);
    for token in input.split_whitespace() {
        println!("{token}: {}", scores.get(token).copied().unwrap_or(0));
    }
}
```

```yaml
database:
  host: db.internal
  user: app
  password: ${DB_PASSWORD}
  pool: 10
```

```sh
export API_KEY=$API_KEY
docker run -v $PWD:/app -w /app node:20 npm test
git clone git@github.com:org/repo.git && cd repo
```

See [the reference](https://doc.rust-lang.org/reference/) and
<https://github.com/tldr-pages/tldr> for more information. Commit
9fceb02d0ae598e95dc970b74767f19372d61af8 fixed the cache key; its sha256 is
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.

"#;

// Random strings generated for this bench; not real credentials.
const SECRETS: &[&str] = &[
    "password: q7Vt#92LmxPe\n",
    "export GITHUB_TOKEN=ghp_R8k2LmQ9vX4tZp7Wc1Ny6Hs3Jd5Fg0Ba2Ke8\n",
    "aws_access_key_id = AKIA4Q7ZK2M9X3W8T5RB\n",
    "curl -H \"Authorization: Bearer 8fK2pQ9xLm3Vt7Zr1Wc6Ny4Hs0Jd5Fg\" https://api.example.net\n",
    "DATABASE_URL=postgres://app:Zx9vK2mq7Lr4@db:5432/app\n",
    "id_token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk\n",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n-----END PRIVATE KEY-----\n",
    "STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc9Q\n",
];

fn clean_markdown(target: usize) -> String {
    let mut out = String::with_capacity(target + SECTION.len());
    let mut i = 0;
    while out.len() < target {
        out.push_str(&format!("# Chapter {i}\n\n"));
        out.push_str(SECTION);
        i += 1;
    }
    out
}

/// `clean` with every secret inserted twice, spread evenly over blank lines.
fn with_secrets(clean: &str) -> String {
    let blank_lines = clean.split_inclusive('\n').filter(|l| *l == "\n").count();
    let every = (blank_lines / (SECRETS.len() * 2)).max(1);
    let mut out = String::with_capacity(clean.len() + 4096);
    let mut secrets = SECRETS.iter().cycle();
    let mut blank = 0;
    let mut inserted = 0;
    for line in clean.split_inclusive('\n') {
        out.push_str(line);
        if line == "\n" {
            blank += 1;
            if blank % every == 0 && inserted < SECRETS.len() * 2 {
                out.push_str(secrets.next().unwrap());
                out.push('\n');
                inserted += 1;
            }
        }
    }
    out
}

fn markdown_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            markdown_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "md")
            && let Ok(bytes) = std::fs::read(&p)
        {
            out.push(String::from_utf8_lossy(&bytes).replace("\r\n", "\n"));
        }
    }
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::new(&RedactionPolicy::default(), b"bench-key").unwrap();
    let clean = clean_markdown(300_000);
    let dirty = with_secrets(&clean);
    assert_eq!(redactor.redact(&clean).total(), 0);
    assert_eq!(redactor.redact(&dirty).total(), SECRETS.len() as u32 * 2);

    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Bytes(clean.len() as u64));
    group.bench_function("clean_md", |b| {
        b.iter(|| redactor.redact(black_box(&clean)))
    });
    group.throughput(Throughput::Bytes(dirty.len() as u64));
    group.bench_function("with_secrets_md", |b| {
        b.iter(|| redactor.redact(black_box(&dirty)))
    });
    group.throughput(Throughput::Bytes(clean.len() as u64));
    group.bench_function("scan_clean_md", |b| {
        b.iter(|| redactor.scan(black_box(&clean)))
    });

    let root = std::env::var_os("AUDITGRAPH_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/corpora"));
    for (name, dir) in [("tldr_en", "tldr-en"), ("rust_book", "rust-book")] {
        let mut docs = Vec::new();
        markdown_files(&root.join(dir), &mut docs);
        if docs.is_empty() {
            eprintln!("note: corpus {dir} not found; skipping its benchmark");
            continue;
        }
        let bytes: usize = docs.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("{name}_{}_files", docs.len()), |b| {
            b.iter(|| {
                let mut total = 0;
                for d in &docs {
                    total += redactor.redact(black_box(d)).total();
                }
                total
            })
        });
    }
    group.finish();

    c.bench_function("redactor_new", |b| {
        b.iter(|| Redactor::new(black_box(&RedactionPolicy::default()), b"bench-key").unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
