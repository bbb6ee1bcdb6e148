"""navee-monitor's Scrapy project (installed as ``navee_crawler``).

``runner.crawl_site(settings, site_name)`` runs one crawl of a watched site;
``extract`` finds the images of an HTML page; ``pipelines`` downloads, checks,
stores and records them.
"""
