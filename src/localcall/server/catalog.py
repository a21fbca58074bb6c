"""The models a server serves, by the id clients put in `model`, each with its queue."""

from __future__ import annotations

from typing import Mapping

from ..model import ChatModel
from .errors import APIError
from .queue import ModelQueue
from .schemas import ModelCard, now


class Catalog:
    def __init__(self, models: Mapping[str, ChatModel], *, max_waiting: int, stream_interval: float):
        if not models:
            raise ValueError("a server needs at least one model")
        # One queue per model instance: a model served under two ids still generates for one
        # request at a time, and its queue's bound must count both ids' requests.
        queues: dict[int, ModelQueue] = {}
        for model in models.values():
            if id(model) not in queues:
                queues[id(model)] = ModelQueue(model, max_waiting=max_waiting, stream_interval=stream_interval)
        self.queues = {name: queues[id(model)] for name, model in models.items()}
        self.created = now()  # when serving began: the cards' "created"

    def get(self, name: str) -> ModelQueue:
        try:
            return self.queues[name]
        except KeyError:
            raise APIError(404, f"The model {name!r} does not exist on this server. It serves: "
                                f"{', '.join(self.queues)}.", param="model", code="model_not_found") from None

    def card(self, name: str) -> ModelCard:
        self.get(name)
        return ModelCard(id=name, created=self.created)

    def cards(self) -> list[ModelCard]:
        return [ModelCard(id=name, created=self.created) for name in self.queues]

    async def close(self) -> None:
        for queue in {id(q): q for q in self.queues.values()}.values():
            await queue.close()
