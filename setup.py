"""Package discovery that pyproject.toml alone cannot express.

The top-level folders are fixed by the product card: ``crawler/`` (a Scrapy
project) and ``migrations/`` (Alembic). They are installed as the packages
``navee_crawler`` and ``navee_migrations`` so that an installed daemon finds
its spiders and its migration scripts without the source tree.
"""
from setuptools import find_packages, setup

packages = find_packages(include=["navee_monitor", "navee_monitor.*"])
packages += ["navee_crawler"] + ["navee_crawler." + p for p in find_packages("crawler")]
packages += ["navee_migrations", "navee_migrations.versions"]

setup(
    packages=packages,
    package_dir={"navee_crawler": "crawler", "navee_migrations": "migrations"},
)
