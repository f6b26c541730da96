"""URLs of the web workbench and the public complainant portal."""

urlpatterns: list = []
