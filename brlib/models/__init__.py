"""Models: `RewardModel` (a Qwen-VL backbone without its LM head + a reward head; reward_model), the head (head),
the Bradley-Terry loss and its regularisers (loss), prefix-shared packing of pairs and GRPO groups (prefix), the
generative judges of Table 1 (judge) and the tiny Qwen-VL backbones built from configs in Hub layout (backbones).
"""

from brlib.models.head import HeadConfig, RewardHead
from brlib.models.loss import LossConfig, bt_loss
from brlib.models.reward_model import RewardModel

__all__ = ["HeadConfig", "LossConfig", "RewardHead", "RewardModel", "bt_loss"]
