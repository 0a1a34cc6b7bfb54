"""DRF pagination used by the Probe Management collections."""

from rest_framework.pagination import PageNumberPagination


class ScsPagination(PageNumberPagination):
    page_size = 30
    page_size_query_param = "page_size"
    max_page_size = 1000
