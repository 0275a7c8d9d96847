//! Throughput of `UNWIND <literal list> AS row MERGE ...` batches over Bolt.
//!
//! ```sh
//! cargo run --release -p auditgraph-bolt --example unwind_bench -- \
//!     bolt://127.0.0.1:PORT falkordb PASSWORD [NODES] [MAX_ROWS] [MAX_BYTES]
//! ```
//!
//! Creates NODES small nodes (id, name, an int, a float, a list of two
//! strings) under a fresh label with an index on `id`, in batches of at most
//! MAX_ROWS rows and MAX_BYTES bytes of list literal; merges them a second
//! time (nothing changes); links them in a chain (NODES-1 relationships);
//! then deletes them and the index. Prints rows per second for each phase.
//! Defaults: 10000 nodes, 1000 rows, 60000 bytes.

use std::time::Instant;

use auditgraph_bolt::{Client, Config, Value, cypher_identifier, list_literal_batches};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Result<T, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("argument {i} is not a number: {s}")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: unwind_bench URI USER PASSWORD [NODES] [MAX_ROWS] [MAX_BYTES]".into());
    }
    let nodes: usize = arg(&args, 4, 10_000)?;
    let max_rows: usize = arg(&args, 5, 1000)?;
    let max_bytes: usize = arg(&args, 6, 60_000)?;
    let config = Config::new(&args[1], &args[2], &args[3]);
    let mut c = Client::connect(&config)?;
    println!(
        "server {} (Bolt {}.{})",
        c.server_agent(),
        c.protocol_version().0,
        c.protocol_version().1
    );
    let label = format!(
        "UnwindBench{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
            % 1_000_000_007
    );
    let l = cypher_identifier(&label);
    c.execute(&format!("CREATE INDEX FOR (n:{l}) ON (n.id)"), &[])?;

    let rows: Vec<Value> = (0..nodes)
        .map(|i| {
            Value::map([
                ("id", Value::String(format!("ag:note:{i:08}"))),
                ("name", Value::String(format!("Note {i}: it's \"quoted\""))),
                ("n", Value::Int(i64::try_from(i).unwrap_or(i64::MAX))),
                ("w", Value::Float(i as f64 / 7.0)),
                (
                    "tags",
                    Value::from(vec![format!("t{}", i % 10), format!("u{}", i % 3)]),
                ),
            ])
        })
        .collect();
    let batches = list_literal_batches(&rows, max_bytes, max_rows)?;
    let biggest = batches.iter().map(String::len).max().unwrap_or(0);
    println!(
        "{nodes} nodes in {} batches (largest list literal {biggest} bytes)",
        batches.len()
    );

    for pass in ["create", "re-merge"] {
        let started = Instant::now();
        let mut created = 0;
        for b in &batches {
            let s = c.execute(
                &format!(
                    "UNWIND {b} AS row MERGE (n:{l} {{id: row.id}}) \
                     SET n.name = row.name, n.n = row.n, n.w = row.w, n.tags = row.tags"
                ),
                &[],
            )?;
            created += s.stat("nodes-created");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "nodes {pass:9}: {nodes} rows in {secs:.3} s = {:.0} rows/s ({created} created)",
            nodes as f64 / secs
        );
    }

    let links: Vec<Value> = (1..nodes)
        .map(|i| {
            Value::map([
                ("from", Value::String(format!("ag:note:{:08}", i - 1))),
                ("to", Value::String(format!("ag:note:{i:08}"))),
                ("rule", Value::from("bench.chain")),
                ("confidence", Value::Float(0.5)),
            ])
        })
        .collect();
    let link_batches = list_literal_batches(&links, max_bytes, max_rows)?;
    let started = Instant::now();
    let mut created = 0;
    for b in &link_batches {
        let s = c.execute(
            &format!(
                "UNWIND {b} AS row MATCH (a:{l} {{id: row.from}}) MATCH (b:{l} {{id: row.to}}) \
                 MERGE (a)-[r:BENCH_LINK]->(b) SET r.rule = row.rule, r.confidence = row.confidence"
            ),
            &[],
        )?;
        created += s.stat("relationships-created");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "relationships: {} rows in {secs:.3} s = {:.0} rows/s ({created} created, {} batches)",
        links.len(),
        links.len() as f64 / secs,
        link_batches.len()
    );

    let count = c.run(&format!("MATCH (n:{l}) RETURN count(n)"), &[])?;
    println!("count: {:?}", count.records);
    c.execute(&format!("MATCH (n:{l}) DETACH DELETE n"), &[])?;
    c.execute(&format!("DROP INDEX ON :{l}(id)"), &[])?;
    c.close();
    Ok(())
}
