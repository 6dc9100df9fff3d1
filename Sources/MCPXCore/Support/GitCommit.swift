// Overwritten by scripts/stamp-version.sh; keep this line's shape.
let gitCommit = "unknown"
