"""DeepMigration's graph network (Battaglia et al.'s GN block) on PyTorch Geometric.

One GN block (`torch_geometric.nn.MetaLayer`) is applied `rounds` times with shared
weights, so its update functions φ are recurrent, as in the paper: each φ is a GRU cell
whose hidden state is the edge / node / global attribute, and each aggregation ρ is a
two-layer feed-forward network over the mean and the sum of what it aggregates:

    e'_k = φ^e(e_k, v_{s_k}, v_{r_k}, u)
    v'_i = φ^v(ρ^{e→v}(E'_i), v_i, u)
    u'   = φ^u(ρ^{e→u}(E'), ρ^{v→u}(V'), u)

The heads read the final attributes: per edge the mean of a logit (which destination
gets the source's load), per node the mean of the amount (how much of its excess the
source sheds). The policy is Gaussian around those means; `std` is learned.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MetaLayer
from torch_geometric.utils import scatter

from migration.graph import EDGE_DIM, GLOBAL_DIM, NODE_DIM


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o))


class EdgeModel(nn.Module):
    def __init__(self, h: int) -> None:
        super().__init__()
        self.phi = nn.GRUCell(3 * h, h)

    def forward(self, src, dst, edge_attr, u, batch):
        # batch is the graph of each edge's source node
        return self.phi(torch.cat([src, dst, u[batch]], dim=1), edge_attr)


class NodeModel(nn.Module):
    def __init__(self, h: int) -> None:
        super().__init__()
        self.rho = _mlp(2 * h, h, h)  # ρ^{e→v}
        self.phi = nn.GRUCell(2 * h, h)

    def forward(self, x, edge_index, edge_attr, u, batch):
        # both ends: a source learns what its destinations offer, a destination what arrives
        col = torch.cat([edge_index[1], edge_index[0]])
        ea = torch.cat([edge_attr, edge_attr])
        agg = torch.cat([scatter(ea, col, 0, dim_size=x.size(0), reduce="mean"),
                         scatter(ea, col, 0, dim_size=x.size(0), reduce="sum") / 10], dim=1)  # fmt: skip
        return self.phi(torch.cat([self.rho(agg), u[batch]], dim=1), x)


class GlobalModel(nn.Module):
    def __init__(self, h: int) -> None:
        super().__init__()
        self.rho_v = _mlp(2 * h, h, h)  # ρ^{v→u}
        self.rho_e = _mlp(2 * h, h, h)  # ρ^{e→u}
        self.phi = nn.GRUCell(2 * h, h)

    def forward(self, x, edge_index, edge_attr, u, batch):
        n_graphs = u.size(0)
        v = torch.cat([scatter(x, batch, 0, dim_size=n_graphs, reduce="mean"),
                       scatter(x, batch, 0, dim_size=n_graphs, reduce="max")], dim=1)  # fmt: skip
        eb = batch[edge_index[0]]
        e = torch.cat([scatter(edge_attr, eb, 0, dim_size=n_graphs, reduce="mean"),
                       scatter(edge_attr, eb, 0, dim_size=n_graphs, reduce="max")], dim=1)  # fmt: skip
        return self.phi(torch.cat([self.rho_v(v), self.rho_e(e)], dim=1), u)


class MigrationGN(nn.Module):
    def __init__(self, hidden: int = 32, rounds: int = 3) -> None:
        super().__init__()
        self.hidden, self.rounds = hidden, rounds
        self.enc_x = nn.Linear(NODE_DIM, hidden)
        self.enc_e = nn.Linear(EDGE_DIM, hidden)
        self.enc_u = nn.Linear(GLOBAL_DIM, hidden)
        self.block = MetaLayer(EdgeModel(hidden), NodeModel(hidden), GlobalModel(hidden))
        self.edge_head = _mlp(hidden + EDGE_DIM, hidden, 1)
        self.node_head = _mlp(hidden + NODE_DIM, hidden, 1)
        self.log_std = nn.Parameter(torch.tensor([-0.7, -0.7]))  # edge logits, node amounts

    def forward(self, x, edge_index, edge_attr, u, batch=None):
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long)
        h, e, g = torch.relu(self.enc_x(x)), torch.relu(self.enc_e(edge_attr)), torch.relu(self.enc_u(u))
        for _ in range(self.rounds):
            h, e, g = self.block(h, edge_index, e, g, batch)
        # the raw attributes go to the heads too: cheap shortcuts for what matters most (cost, room)
        edge_mu = self.edge_head(torch.cat([e, edge_attr], dim=1)).squeeze(-1)
        node_mu = self.node_head(torch.cat([h, x], dim=1)).squeeze(-1)
        return edge_mu, node_mu
