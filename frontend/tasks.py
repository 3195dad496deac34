"""The web app's periodic work: an extension keeps painting when nobody has its page open.

The page's polling advances an extension at once; this catches the rest every few seconds.
The rules are generation.services.outpainting's.
"""

from celery import shared_task

from common.queues import Queue
from generation.services.outpainting import extensions_advance_running


@shared_task(name="frontend.extensions_advance", queue=Queue.DEFAULT, ignore_result=True)
def extensions_advance_task() -> int:

    return extensions_advance_running()
