import dataclasses

import numpy as np
import pytest
import torch

from reprolab.methods.mbec.agent import MBECAgent, MBECConfig, official_dqn_config
from reprolab.methods.mbec.maze import GridMaze
from reprolab.methods.mbec.model import MBECNetwork, habitual_network
from reprolab.rl.dqn import DQNAgent, TargetRule, train_dqn
from reprolab.rl.envs import make_env

DQN = official_dqn_config(lr=1e-3, replay_start=100, buffer_size=5000, eps_frames=300, target_sync=25)


def _agent(seed=0, **changes):
    torch.manual_seed(seed)
    return MBECAgent((3,), 4, DQN, MBECConfig(max_read_prob=0.0, **changes), seed)


def _filled(agent, n=50):
    g = torch.Generator().manual_seed(3)
    agent.memory.insert(torch.randn(n, 8, generator=g), torch.randn(n, generator=g) * 5)
    return agent


def _batch(n=12):
    g = torch.Generator().manual_seed(4)
    return {"obs": torch.randn(n, 3, generator=g), "next_obs": torch.randn(n, 3, generator=g),
            "action": torch.arange(n) % 4, "reward": torch.randn(n, generator=g),
            "done": (torch.rand(n, generator=g) < 0.3).float(),
            **{k: torch.randn(n, 16, generator=g) * 0.3 for k in ("h", "c", "next_h", "next_c")}}


def test_onehot_rows_are_torchs_one_hot_and_follow_the_network_to_its_device():
    net = MBECNetwork((3,), 4)
    actions = torch.tensor([2, 0, 3, 3, 1])
    assert torch.equal(net.onehot(actions), torch.nn.functional.one_hot(actions, 4).float())
    assert "identity" not in net.state_dict()             # not a weight: checkpoints keep their keys
    assert torch.equal(net.identity[2: 3], net.onehot(torch.tensor([2])))


def test_habitual_weights_match_the_dqn_network_under_the_same_seed():
    torch.manual_seed(5)
    dqn = habitual_network((3,), 4)
    torch.manual_seed(5)
    net = MBECNetwork((3,), 4)
    assert all(torch.equal(p, q) for p, q in zip(dqn.parameters(), net.habitual.parameters()))
    assert not net.random_map.weight.requires_grad


def _train(kind, frames=600, **changes):
    torch.manual_seed(0)
    env = make_env("CartPole-v1", obs_noise=0.1)
    if kind == "dqn":
        agent = DQNAgent(lambda: habitual_network((4,), 2), 2, DQN, TargetRule())
    else:
        agent = MBECAgent((4,), 2, DQN, MBECConfig(warmup_episodes=2, **changes), seed=0)
    log = train_dqn(env, agent, frames, seed=0)
    net = agent.online[0] if kind == "dqn" else agent.online[0].habitual
    return [p.detach().clone() for p in net.parameters()], log.episode_returns, agent


def test_memory_off_reproduces_dqn_bit_for_bit_and_memory_on_does_not():
    w_dqn, r_dqn, _ = _train("dqn")
    w_off, r_off, off = _train("mbec", read_rate=0.0, rec_rate=0.0)
    assert r_dqn == r_off and all(torch.equal(a, b) for a, b in zip(w_dqn, w_off))
    assert len(off.memory) > 0                     # the memory is filled, only never read
    w_on, _, on = _train("mbec")
    assert on.trace["rec_loss"] and any(not torch.equal(a, b) for a, b in zip(w_dqn, w_on))


def test_td_online_value_uses_each_rows_own_action():
    agent = _filled(_agent())
    agent.reading_online = True
    b = _batch()
    got = agent.rule.online_values(agent, b, 0)
    net = agent.online[0]
    with torch.no_grad():
        for i in range(len(got)):                 # one row at a time: nothing can mix rows
            q, x = net.q_and_embedding(b["obs"][i:i + 1])
            a = torch.zeros(1, 4)
            a[0, b["action"][i]] = 1.0
            h1, _ = net.step(x, a, b["h"][i:i + 1], b["c"][i:i + 1])
            v = agent.memory.read(net.random_map(h1))
            expected = q[0, b["action"][i]] + net.beta(b["h"][i:i + 1]) * (b["reward"][i] + 0.99 * v)
            assert got[i].item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    got.sum().backward()                          # gradient reaches beta and Q_theta, never the memory term
    assert net.beta_net.weight.grad is not None and net.lstm.weight_ih.grad is None


def test_td_target_is_the_target_networks_hybrid_max():
    agent = _filled(_agent())
    agent.reading_target = True
    b = _batch()
    for p in agent.target[0].parameters():
        p.data.add_(0.05)                         # target differs from online
    y, _ = agent.rule.targets(agent, b, 0)
    t = agent.target[0]
    with torch.no_grad():
        q, x = t.q_and_embedding(b["next_obs"])
        per_action = []
        for a in range(4):
            onehot = torch.zeros(len(x), 4)
            onehot[:, a] = 1.0
            h1, _ = t.step(x, onehot, b["next_h"], b["next_c"])
            per_action.append(t.reward(x, onehot, b["next_h"]) + 0.99 * agent.memory.read(t.random_map(h1)))
        hybrid = q + t.beta(b["next_h"]).unsqueeze(1) * torch.stack(per_action, 1)
    expected = b["reward"] + 0.99 * (1 - b["done"]) * hybrid.max(1).values
    assert torch.allclose(y, expected, atol=1e-5)


def test_target_network_is_an_exact_copy_including_random_map():
    agent = _agent()
    assert torch.equal(agent.online[0].random_map.weight, agent.target[0].random_map.weight)


def test_acting_reward_is_per_action_unless_the_official_flag():
    x, h, c = torch.randn(2, 32), torch.randn(2, 16), torch.randn(2, 16)
    fixed = _filled(_agent())
    official = _filled(_agent(official_acting_reward=True))
    ours = fixed.episodic_values(fixed.online[0], x, h, c, acting=True)
    theirs = official.episodic_values(official.online[0], x, h, c, acting=True)
    net = fixed.online[0]
    r_hat = torch.stack([net.reward(x, torch.eye(4)[[a, a]], h) for a in range(4)], 1).detach()
    assert torch.allclose(ours - theirs, r_hat - r_hat[:, :1], atol=1e-6)
    assert not torch.allclose(r_hat, r_hat[:, :1].expand(2, 4))


def _episode(agent, rewards):
    obs = np.zeros(3, np.float32)
    for i, r in enumerate(rewards):
        agent.frame += 1                                  # the global frame clock, as train_dqn sets it
        agent.observe(obs + i, i % 4, r, obs + i + 1, i == len(rewards) - 1)
    agent.end_episode(float(sum(rewards)))


def test_episode_end_inserts_returns_to_go_of_the_kept_states():
    agent = _agent(rec_rate=0.0, warmup_episodes=5, initial_write_interval=2)
    rewards = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    _episode(agent, rewards)
    # kept at frames 2 and 4 (cumulative rewards 3, 10), then the terminal state (21); G = 21 -> 18, 11, 0
    assert len(agent.memory) == 3 and agent.memory.values[:3].tolist() == [18.0, 11.0, 0.0]
    assert agent.write_interval == 1              # int(0.1 x mean length 6) floored at 1
    discounted = _agent(rec_rate=0.0, warmup_episodes=5, initial_write_interval=2, discount_mc_returns=True)
    _episode(discounted, rewards)
    g = 0.99
    assert discounted.memory.values[:3].tolist() == pytest.approx([3 + 4 * g + 5 * g ** 2 + 6 * g ** 3,
                                                                   5 + 6 * g, 0.0])


def test_min_reward_stores_only_the_returns_to_go_above_it():
    # official `RR > min_reward`: the kept states' returns-to-go are 18 and 11, the terminal state's 0
    rewards = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for min_reward, stored in ((None, [18.0, 11.0, 0.0]), (-1e9, [18.0, 11.0, 0.0]), (0.0, [18.0, 11.0]),
                               (11.0, [18.0]), (18.0, [])):
        agent = _agent(rec_rate=0.0, warmup_episodes=5, initial_write_interval=2, min_reward=min_reward)
        _episode(agent, rewards)
        assert agent.memory.values[: len(agent.memory)].tolist() == stored and agent.episodes == 1


def test_min_reward_also_skips_the_write_of_a_filtered_return():
    # as `test_episode_end_writes_the_returns_before_inserting_the_new_keys`: a stored return of 10 moves the old
    # entry to 5; at min_reward = 10 the return is neither written nor inserted
    for min_reward, values in ((9.0, [5.0, 10.0]), (10.0, [0.0])):
        agent = _agent(rec_rate=0.0, warmup_episodes=0, k=1, min_reward=min_reward)
        agent.episodes = 1
        agent.memory.insert(torch.full((1, 8), 3.0), torch.tensor([0.0]))
        agent.end_episode(10.0)
        assert agent.memory.values[: len(agent.memory)].tolist() == values


@pytest.mark.parametrize("recall", ["official", "teacher_forcing"])
def test_the_initial_state_trains_unless_official_h0_frozen(recall):
    # a one-step episode: every sampled cue is the episode's first step, whose stored state is (h0, c0); the reward
    # model reads h0, and with teacher forcing the LSTM also starts from (h0, c0)
    for frozen in (False, True):
        agent = _agent(recall=recall, official_h0_frozen=frozen)
        net = agent.online[0]
        agent.frame += 1
        agent.observe(np.zeros(3, np.float32), 1, 1.0, np.ones(3, np.float32), False)
        before = {name: p.detach().clone() for name, p in net.named_parameters()}
        agent.trajectory_model_step(agent.rec_optimizer)
        changed = {name for name, p in net.named_parameters() if not torch.equal(before[name], p)}
        assert {"lstm.weight_ih", "reward_model.0.weight"} <= changed
        assert ("h0" in changed) != frozen
        assert ("c0" in changed) == (recall == "teacher_forcing" and not frozen)


def test_memory_is_read_only_after_warm_up():
    agent = _agent(rec_rate=0.0, warmup_episodes=2, read_rate=1.0, initial_write_interval=1)
    for _ in range(3):                            # read once MORE than warmup_episodes episodes ended [official]
        assert not agent.memory_ready()
        agent.act(np.zeros(3, np.float32), 0.0, np.random.default_rng(0))
        assert not agent.reading
        _episode(agent, [1.0, 1.0, 1.0])
    assert agent.memory_ready()
    agent.act(np.zeros(3, np.float32), 0.0, np.random.default_rng(0))
    assert agent.reading and agent.last_q_mbec.shape == (1, 4)


def test_learned_beta_lies_strictly_between_0_and_1_and_depends_on_the_state():
    agent = _agent()
    h = torch.rand(200, 16, generator=torch.Generator().manual_seed(6)) * 2 - 1    # LSTM states lie in (-1, 1)
    beta = agent.beta(agent.online[0], h)
    assert beta.shape == (200,) and 0 < beta.min() and beta.max() < 1 and beta.std() > 0


def test_fixed_beta_ablation_uses_the_constant():
    agent = _agent(fixed_beta=0.25)
    assert torch.equal(agent.beta(agent.online[0], torch.randn(5, 16)), torch.full((5,), 0.25))
    with pytest.raises(ValueError, match="fixed_beta"):
        MBECConfig(fixed_beta=2.0)
    with pytest.raises(ValueError, match="read_rate"):
        MBECConfig(read_rate=-0.1)
    for key in ("recall", "init"):
        with pytest.raises(ValueError, match=f"'{key}': 'bogus' is not one of"):
            MBECConfig(**{key: "bogus"})


def test_checkpoint_state_round_trips():
    _, _, agent = _train("mbec", frames=400)
    state = agent.state_dict()
    torch.manual_seed(9)
    other = MBECAgent((4,), 2, DQN, MBECConfig(warmup_episodes=2), seed=1)
    other.load_state_dict(state)
    keys = torch.randn(3, 8)
    assert torch.equal(other.memory.read(keys), agent.memory.read(keys)) and other.trace == agent.trace
    assert other.episodes == agent.episodes and other.mem_rng.random() == agent.mem_rng.random()


def test_image_observations_through_the_conv_encoder():
    env = make_env("ALE/Pong-v5")
    cfg = dataclasses.replace(DQN, replay_start=40, buffer_size=200, batch_size=4)
    torch.manual_seed(0)
    agent = MBECAgent(env.observation_space.shape, env.action_space.n, cfg, MBECConfig(), seed=0)
    train_dqn(env, agent, 60, seed=0)
    assert agent.updates == 5                    # frames 44, 48, ..., 60
    x = agent.online[0].embed(torch.zeros(2, 4, 84, 84, dtype=torch.uint8))
    assert x.shape == (2, 32)


def test_training_resumes_from_a_checkpoint_with_the_memory(tmp_path):
    def agent():
        torch.manual_seed(0)
        return MBECAgent((4,), 2, DQN, MBECConfig(warmup_episodes=2), seed=0)

    first = agent()
    log = train_dqn(make_env("CartPole-v1"), first, 500, seed=0, checkpoint=tmp_path / "c.pt", checkpoint_every=200)
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    step, memory_size = saved["step"], len(saved["objects"]["agent"]["memory"]["values"])
    assert 200 <= step <= 500 and memory_size > 0
    resumed = agent()
    log2 = train_dqn(make_env("CartPole-v1"), resumed, 900, seed=0, checkpoint=tmp_path / "c.pt",
                     checkpoint_every=200, resume=True)
    n = sum(f <= step for f in log.episode_end_frames)
    assert log2.episode_returns[:n] == log.episode_returns[:n] and log2.episode_end_frames[-1] > 500
    kept = [r for r in first.trace["memory_error"] if r[0] <= step]
    assert resumed.trace["memory_error"][: len(kept)] == kept and len(resumed.memory) >= memory_size


def test_episode_end_writes_the_returns_before_inserting_the_new_keys():
    """Official order: a new key is not its own nearest neighbour, so the old entry (the only neighbour, k = 1)
    moves by lr (R - V) = 0.5 (10 - 0) = 5. Inserting first made the new key absorb the write."""
    agent = _agent(rec_rate=0.0, warmup_episodes=0, k=1)
    agent.episodes = 1
    agent.memory.insert(torch.full((1, 8), 3.0), torch.tensor([0.0]))
    agent.end_episode(10.0)                      # no step taken: the terminal state, return-to-go 10 - 0
    assert agent.memory.values[:2].tolist() == [5.0, 10.0]


def test_the_terminal_state_is_stored_for_any_episode_length():
    for length in (1, 3, 7):
        agent = _agent(rec_rate=0.0, initial_write_interval=200)
        _episode(agent, [1.0] * length)
        assert len(agent.memory) == 1 and agent.memory.values[0].item() == 0.0


def test_recall_starts_every_cue_from_the_current_state_and_includes_the_latest_step():
    seen = {}
    for recall in ("official", "teacher_forcing"):
        agent = _agent(recall=recall, rec_batch=4)
        obs = np.zeros(3, np.float32)
        for i in range(6):
            agent.frame += 1
            agent.observe(obs + i, i % 4, 1.0, obs + i + 1, False)
        net, calls = agent.online[0], []
        original = net.step
        net.step = lambda x, a, h, c: calls.append((a.clone(), h.clone())) or original(x, a, h, c)
        agent.trajectory_model_step(agent.rec_optimizer)
        actions, h = calls[0]
        seen[recall] = h
        assert actions[-1].argmax().item() == 5 % 4                  # the latest transition is always a cue
    assert torch.allclose(seen["official"], seen["official"][:1].expand(4, -1))    # one state for every cue
    assert not torch.allclose(seen["teacher_forcing"], seen["teacher_forcing"][:1].expand(4, -1))


def test_official_initialisation_statistics_and_key_spread():
    """Kaiming-normal linears with zero bias (random_map included), LSTM uniform in +-5/sqrt(in + hidden); the
    memory keys of trajectory states then spread far beyond the 1e-3 weighting epsilon (torch's defaults put
    almost every 7-NN distance below it)."""
    torch.manual_seed(0)
    net = MBECNetwork((4,), 2)
    head = net.habitual[1][0]
    assert abs(head.weight.std().item() - (2 / head.in_features) ** 0.5) < 0.02 and not head.bias.any()
    assert not net.random_map.bias.any() and abs(net.random_map.weight.std().item() - (2 / 16) ** 0.5) < 0.15
    bound = 5 / (32 + 2 + 16) ** 0.5
    assert net.lstm.weight_ih.abs().max() <= bound and net.lstm.weight_ih.abs().max() > 0.9 * bound
    assert not net.lstm.bias_ih.any() and not net.lstm.bias_hh.any()

    def median_knn(net):
        g = torch.Generator().manual_seed(1)
        keys = []
        with torch.no_grad():
            h, c = net.initial_state()
            for _ in range(300):
                x = net.embed(torch.randn(1, 4, generator=g))
                h, c = net.step(x, net.onehot(torch.randint(2, (1,), generator=g)), h, c)
                keys.append(net.key(h))
        keys = torch.cat(keys)
        d2 = torch.cdist(keys, keys) ** 2
        return d2.topk(8, largest=False).values[:, 1:].median().item()

    torch.manual_seed(0)
    pytorch = MBECNetwork((4,), 2, init="pytorch")
    assert median_knn(net) > 1e-3 > median_knn(pytorch)


def test_bootstrapped_writes_happen_on_greedy_steps_only():
    agent = _filled(_agent(rec_rate=0.0, warmup_episodes=0, read_rate=1.0, bstr_rate=1.0))
    agent.episodes = 1
    before = agent.memory.values.clone()
    agent.act(np.zeros(3, np.float32), 1.0, np.random.default_rng(0))       # epsilon 1: a random action
    assert torch.equal(agent.memory.values, before)
    agent.act(np.zeros(3, np.float32), 0.0, np.random.default_rng(0))       # greedy
    assert not torch.equal(agent.memory.values, before)


def test_online_and_target_passes_draw_their_reads_separately():
    agent = _filled(_agent(rec_rate=0.0, warmup_episodes=0, read_rate=0.5))
    agent.episodes = 1
    draws = set()
    for _ in range(40):
        agent.update(_batch(), np.random.default_rng(0))
        draws.add((agent.reading_online, agent.reading_target))
    assert {(True, False), (False, True)} <= draws


def test_corruption_type_is_drawn_per_sample():
    agent = _agent()
    out = agent.corrupt(torch.ones(32, 10))
    dropped = (out == 0).any(1) | (out == 2).all(1)                # dropout rows: values in {0, 2}
    assert 0 < int(dropped.sum()) < 32


def _maze_episode(**dqn_flags):
    """One truncated episode of 3 steps on a 5x5 maze (no goal within reach, reward -0.1/25 per step), a write
    checkpoint due at every frame: the number of kept pairs at the episode end, the memory's values, the log."""
    torch.manual_seed(0)
    agent = MBECAgent((2,), 4, dataclasses.replace(DQN, **dqn_flags),
                      MBECConfig(rec_rate=0.0, initial_write_interval=1, max_read_prob=0.0), seed=0)
    kept, end_episode = [], agent.end_episode
    agent.end_episode = lambda episode_return: kept.append(len(agent.kept)) or end_episode(episode_return)
    log = train_dqn(GridMaze(5, max_steps=3), agent, 3, seed=0, progress=False)
    return kept, agent.memory.values[: len(agent.memory)].tolist(), log.episode_returns


def test_a_truncated_end_step_keeps_no_write_checkpoint_with_truncation_terminal():
    # official: `done` is true on the truncated step, so its write checkpoint is skipped and the final state is
    # stored once, as the terminal state; by default it is kept at that step and again as the terminal state
    assert _maze_episode()[0] == [3]
    kept, values, _ = _maze_episode(truncation_terminal=True)
    assert kept == [2] and values == pytest.approx([-0.008, -0.004, 0.0])


def test_clipped_rewards_give_the_memory_returns_to_go_of_sign_r():
    # official `clip_rewards=1`: the memory's returns-to-go sum sign(r) = -1 per step; the log keeps the maze's
    # -0.1/25 per step
    _, values, returns = _maze_episode(truncation_terminal=True, clip_rewards=True)
    assert values == [-2.0, -1.0, 0.0] and returns == pytest.approx([-0.012])
