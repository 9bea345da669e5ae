from tests.web.world import World

def test_pages(as_role, world: World) -> None:  # type: ignore[no-untyped-def]
    c = as_role("planner")
    for path in ["/dashboard/queue", f"/dashboard/backorders/{world.backorders[0].id}", f"/dashboard/backorders/{world.backorders[0].id}/compare?vs={world.backorders[1].number}", "/dashboard/queue?tier=vip&tier=premium&churn_risk_min=50&fillable_elsewhere=on", "/dashboard/queue?churn_risk_min=abc", "/dashboard/nope", "/dashboard/backorders/999999"]:
        r = c.get(path)
        print(path, r.status_code)
        open("/tmp/dash_" + path.replace("/", "_")[:60] + ".html", "w").write(r.text)
