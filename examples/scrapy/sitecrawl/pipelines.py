"""DroverResult: the crawl's items back to drover, as the job's data.

A drover worker gives each attempt of a command job a file path in
$DROVER_RESULT; what the job writes there (up to the master's
max_result_bytes) becomes the job's data, shown by `drover job ID --json`
and handed to the group's follow-up job. This pipeline writes every item
there as one JSON line. Without $DROVER_RESULT (a crawl run by hand) it
does nothing.
"""

import json
import os


class DroverResult:
    def open_spider(self, spider):
        path = os.environ.get("DROVER_RESULT")
        self.out = open(path, "w", encoding="utf-8") if path else None

    def process_item(self, item, spider):
        if self.out:
            self.out.write(json.dumps(dict(item), ensure_ascii=False) + "\n")
        return item

    def close_spider(self, spider):
        if self.out:
            self.out.close()
