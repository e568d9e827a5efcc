from django_tasks import task

from dalil.app.jobs import services


@task()
def run_job(job_id: int) -> None:
    services.run(job_id)
