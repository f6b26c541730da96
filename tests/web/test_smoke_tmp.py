from tests import factories


def test_pages_render(client, org):
    case = factories.make_case(org.intake)
    for user, urls in [
        (
            org.intake,
            ["/", "/intake/", "/queues/mine/", "/queues/unassigned/", "/cases/", f"/cases/{case.number}/"],
        ),
        (org.supervisor, ["/board/", "/queues/approvals/", "/queues/follow-ups/", f"/cases/{case.number}/"]),
    ]:
        client.force_login(user)
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.content[:3000])
    client.logout()
    for url in [
        "/portal/",
        "/portal/submit/",
        "/portal/progress/",
        "/portal/report/",
        "/portal/report/status/",
    ]:
        assert client.get(url).status_code == 200, url
