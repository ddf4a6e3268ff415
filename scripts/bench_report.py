"""Merges the benchmark figures into target/bench/engine.json and reports targets.

engine.json is one flat JSON object for the whole project; keys already there
(from other benchmarks) are kept unless measured again. Missed targets are
reported, never fatal.
"""
import json, pathlib, re, sys

bench = pathlib.Path("target/bench")
out_path = bench / "engine.json"
figures = json.loads(out_path.read_text()) if out_path.exists() else {}
native = bench / "native.json"
if native.exists():
    figures.update(json.loads(native.read_text()))
# The *-firefox.log runs measure the same figures in Firefox: their keys get "_firefox".
for name in ["idb.log", "render.log", "guest.log", "s3.log", "idb-firefox.log", "guest-firefox.log"]:
    log = bench / name
    suffix = "_firefox" if name.endswith("-firefox.log") else ""
    if log.exists():
        for line in log.read_text().splitlines():
            m = re.search(r"BENCH_JSON (\{.*\})", line)
            if m:
                figures.update({k + suffix: v for k, v in json.loads(m.group(1)).items()})

# (key, comparison, target)
TARGETS = [
    ("snapshot_create_ratio_1g_vs_16m", "<=", 1.5),
    ("rollback_ratio_1g_vs_16m", "<=", 1.5),
    ("clone_ratio_1g_vs_16m", "<=", 1.5),
    ("read_ratio_64_vs_1_snapshots", "<=", 1.2),
    ("idb_snapshot_ratio_1g_vs_16m", "<=", 1.5),
    ("qemu_img_snapshot_speedup_1g", ">=", 10),
    ("idb_write_vs_raw", ">=", 0.7),
    ("idb_read_vs_raw", ">=", 0.7),
    ("encrypted_write_vs_plain", ">=", 0.7),
    ("encrypted_read_vs_plain", ">=", 0.7),
    ("idb_bytes_after_change_ratio", "<=", 1.01),
    ("oss_upload_vs_raw", ">=", 0.5),
    ("oss_upload_vs_raw_copy", "report", None),
    ("oss_incremental_upload_ratio", "<=", 1.05),
    ("oss_restore_first_read_ms", "report", None),
    ("import_qcow2_mb_s", "report", None),
    ("export_qcow2_mb_s", "report", None),
    ("export_qcow2_speed_vs_qemu_img", ">=", 0.5),
    ("wasm_gzip_bytes", "<=", 600 * 1024),
    ("wasm_first_page_gzip_bytes", "<=", 600 * 1024),
    ("wasm_all_parts_gzip_bytes", "report", None),
    ("first_render_ms", "report", None),
    ("guest_boot_ratio_rowsnap_vs_memory", "<=", 1.25),
    ("guest_boot_cold_s", "report", None),
    ("guest_boot_warm_s", "report", None),
    ("guest_write_ratio_rowsnap_vs_memory", ">=", 0.7),
    ("guest_read_ratio_rowsnap_vs_memory", ">=", 0.7),
    ("guest_small_files_ratio_rowsnap_vs_memory", ">=", 0.5),
    ("guest_download_bytes", "report", None),
    ("idb_write_vs_raw_firefox", ">=", 0.7),
    ("idb_read_vs_raw_firefox", ">=", 0.7),
    ("guest_boot_ratio_rowsnap_vs_memory_firefox", "<=", 1.25),
    ("guest_read_ratio_rowsnap_vs_memory_firefox", ">=", 0.7),
    ("s3_upload_vs_raw_put", ">=", 0.7),
    ("s3_upload_mb_s", "report", None),
    ("s3_raw_put_mb_s", "report", None),
    ("s3_restore_first_read_ms", "report", None),
]
out_path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
print(f"\nwrote {out_path}")
missed = 0
for key, op, target in TARGETS:
    if key not in figures:
        print(f"  {key:40s} not measured")
        missed += op != "report"
        continue
    v = figures[key]
    if op == "report":
        print(f"  {key:40s} {v:12.4f}  (reported)")
        continue
    ok = v <= target if op == "<=" else v >= target
    missed += not ok
    print(f"  {key:40s} {v:12.4f}  target {op} {target}  {'met' if ok else 'MISSED'}")
targets = sum(1 for t in TARGETS if t[1] != "report")
print(f"{targets - missed} of {targets} targets met")
