"""The book: executing the notebooks, what a page glues, tables, plots that only draw, the
Methods and Reproduce pages' helpers, and the browser check of the built site.

``python -m sftrl.book run NAME --out FILE`` executes one notebook (:mod:`sftrl.book.execute`).
"""
