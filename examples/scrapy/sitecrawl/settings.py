# Settings of the example project. A drover job sets more with -s (see
# worker.toml): DEPTH_LIMIT and USER_AGENT.
BOT_NAME = "sitecrawl"
SPIDER_MODULES = ["sitecrawl.spiders"]
NEWSPIDER_MODULE = "sitecrawl.spiders"

ROBOTSTXT_OBEY = True
TELNETCONSOLE_ENABLED = False
# Politeness inside one crawl; drover's [limits] keep crawls of one site
# from running at once across the fleet.
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# A site that is down fails the crawl quickly; drover retries the job.
RETRY_TIMES = 1
DOWNLOAD_TIMEOUT = 10
# drover's scrapy kind reads the closing stats, which Scrapy logs at INFO.
LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
# Every item also goes back to drover as the job's data ($DROVER_RESULT).
ITEM_PIPELINES = {"sitecrawl.pipelines.DroverResult": 300}
