use rlm_tests::sandbox;

/// The list in `wasm/guest/preload.py`, read the way the guest's docs say.
fn preloaded_modules() -> Vec<String> {
    let source = include_str!("../../wasm/guest/preload.py");
    let start = source.find("MODULES = (").expect("preload.py defines MODULES");
    let body = &source[start..source[start..].find("\n)").unwrap() + start];
    body.split('"').skip(1).step_by(2).map(str::to_owned).collect()
}

#[tokio::test]
async fn every_preloaded_module_imports() {
    let modules = preloaded_modules();
    assert!(modules.len() > 50, "{modules:?}");
    let mut sb = sandbox().await;
    for name in &modules {
        let out = sb.run_cell(&format!("import {name}")).await.unwrap();
        assert!(out.is_ok(), "import {name}: {}", out.stderr);
    }
}

#[tokio::test]
async fn preloaded_modules_work() {
    let mut sb = sandbox().await;
    let code = r#"
import sqlite3, datetime, decimal, hashlib, statistics, csv, io, asyncio, xml.etree.ElementTree as ET, zlib
db = sqlite3.connect(':memory:')
db.execute('create table t (n int)')
db.executemany('insert into t values (?)', [(1,), (2,), (3,)])
print(db.execute('select sum(n) from t').fetchone()[0])
print(datetime.datetime.strptime('2024-01-02', '%Y-%m-%d').date())
print(decimal.Decimal('1.1') + decimal.Decimal('2.2'))
print(hashlib.sha256(b'x').hexdigest()[:8])
print(statistics.median([3, 1, 2]))
print(list(csv.reader(io.StringIO('a,b\n1,2')))[1])
print(ET.fromstring('<a><b>hi</b></a>').find('b').text)
print(len(zlib.compress(b'a' * 1000)) < 100)
print('é'.encode('latin-1'), 'x'.encode('utf-16-le'))
"#;
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{}", out.stderr);
    assert_eq!(out.stdout, "6\n2024-01-02\n3.3\n2d711642\n2\n['1', '2']\nhi\nTrue\nb'\\xe9' b'x\\x00'\n");
}

#[tokio::test]
async fn an_unavailable_module_names_the_available_ones() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("import numpy").await.unwrap();
    assert!(out.stderr.contains("ModuleNotFoundError: No module named 'numpy'"), "{}", out.stderr);
    assert!(out.stderr.contains("only these modules can be imported"), "{}", out.stderr);
    assert!(out.stderr.contains("json") && out.stderr.contains("sqlite3"), "{}", out.stderr);
}
