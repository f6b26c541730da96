import pytest


@pytest.mark.django_db
def test_login_page_is_chinese(client):
    r = client.get("/login/")
    assert r.status_code == 200
    assert "登录客诉管理系统" in r.content.decode()


def test_home_shows_user_department_and_roles(client, org):
    client.force_login(org.handler)
    html = client.get("/").content.decode()
    assert "质量管理部" in html and "经办人" in html
    assert 'href="/queues/mine/"' in html


def test_home_requires_login(client, db):
    r = client.get("/")
    assert r.status_code == 302 and r.url.startswith("/login/")
