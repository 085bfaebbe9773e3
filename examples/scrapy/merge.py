"""merge: the follow-up job of a group of crawls.

drover runs it once every crawl of the group is final, with the group's
results as JSON on stdin: {"group", "state", "counts", "results": [{"id",
"state", "data", ...}]}. Each crawl's data holds its items, one JSON line
each (sitecrawl.pipelines.DroverResult). merge writes every item of the
group to out/GROUP.jl and, as its own data ($DROVER_RESULT), a summary:
{"group", "crawls", "items", "sites"}.
"""

import json
import os
import sys

group = json.load(sys.stdin)
items = []
for result in group.get("results", []):
    for line in result.get("data", "").splitlines():
        if line.strip():
            items.append(json.loads(line))
os.makedirs("out", exist_ok=True)
name = group.get("group", "group").replace("/", "_")
with open(os.path.join("out", name + ".jl"), "w", encoding="utf-8") as f:
    for item in items:
        f.write(json.dumps(item, ensure_ascii=False) + "\n")
summary = {"group": group.get("group"), "crawls": len(group.get("results", [])),
           "items": len(items), "sites": sorted({i.get("site", "") for i in items})}
with open(os.environ["DROVER_RESULT"], "w", encoding="utf-8") as f:
    json.dump(summary, f)
print(f"merged {len(items)} items of {summary['crawls']} crawls into out/{name}.jl")
