from django.urls import path, re_path

from host import views

urlpatterns = [
    path('healthz', views.healthz),
    # Everything else: the SPA shell for app routes, 404 for anything that looks like a file.
    re_path(r'^', views.spa_shell),
]

handler404 = 'host.views.not_found'
handler500 = 'host.views.server_error'
