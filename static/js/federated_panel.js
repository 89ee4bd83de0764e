// The clients panel of a federated run (templates/runs/_clients.html): one row per client,
// the round's progress, kept current from the run's socket (round events, clients messages).
export class FederatedPanel {
  constructor(root) {
    this.root = root;
  }

  onMessage(msg) {
    if (!this.root) return;
  }
}
