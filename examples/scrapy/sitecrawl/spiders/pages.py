"""pages: crawls the sites it is given and scrapes one item per page."""

from urllib.parse import urlparse

import scrapy


class PagesSpider(scrapy.Spider):
    """Crawls each start URL's site, following links that stay on it.

    Arguments: -a urls="URL URL ..." (spaces or commas between them).
    Each page gives an item {url, title, site}. Links to other hosts are
    not followed; DEPTH_LIMIT bounds how deep it goes.
    """

    name = "pages"

    def __init__(self, urls="", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.start_urls = [u for u in urls.replace(",", " ").split() if u]
        if not self.start_urls:
            raise ValueError('pages: give the start URLs with -a urls="URL ..."')
        self.allowed_hosts = {urlparse(u).netloc for u in self.start_urls}

    def parse(self, response):
        yield {
            "url": response.url,
            "title": response.css("title::text").get(default="").strip(),
            "site": urlparse(response.url).netloc,
        }
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if urlparse(url).netloc in self.allowed_hosts:
                yield scrapy.Request(url, callback=self.parse)
