// The summary at the top of a finished run's page (templates/runs/_summary.html), shown
// when the run's last durable event (`summary`) arrives over the socket.
export class RunSummary {
  constructor(root) {
    this.root = root;
  }

  onMessage(msg) {
    if (!this.root) return;
  }
}
