"""Scrapy settings of the navee-monitor crawler (project defaults).

Per-site and per-installation values (user agent, robots.txt, delays,
concurrency, limits, retries, the browser) come from navee-monitor's settings
and are applied on top of these by :func:`navee_crawler.runner.scrapy_settings`.
"""

BOT_NAME = "navee-monitor"
SPIDER_MODULES = ["navee_crawler.spiders"]
NEWSPIDER_MODULE = "navee_crawler.spiders"

# scrapy-playwright needs the asyncio reactor; the rest of the crawler is indifferent
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

ROBOTSTXT_OBEY = True
# an HTTP server inside the crawl process that runs Python code sent to it: never
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
COOKIES_ENABLED = False

ITEM_PIPELINES = {"navee_crawler.pipelines.ImageStorePipeline": 300}
DOWNLOADER_MIDDLEWARES = {"navee_crawler.middlewares.RenderJsMiddleware": 950}
# images may redirect (CDNs); redirects of pages are followed by RedirectMiddleware
MEDIA_ALLOW_REDIRECTS = True
REDIRECT_MAX_TIMES = 5

# depth is counted by the spider (sitemap entries are entry points, not deep pages)
DEPTH_LIMIT = 0
# retries: 5xx, 408, 429 and network errors (timeouts included)
RETRY_ENABLED = True
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]

AUTOTHROTTLE_MAX_DELAY = 60
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# the spider schedules breadth-first, so max_pages keeps the pages closest to the start
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

# Scrapy starts this many asyncio tasks per response to process its output; a page
# yields one item and a few links, and 100 tasks per page cost more CPU than the page
CONCURRENT_ITEMS = 8

LOG_LEVEL = "INFO"
STATS_DUMP = False
