// Press-to-talk's capture (an AudioWorklet): the microphone's samples, at the audio
// context's rate, as 16-bit PCM in pieces of a tenth of a second, each with its loudness
// (so the page can tell when the citizen has stopped speaking).
class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.piece = new Int16Array(Math.round(sampleRate / 10));
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const s = Math.max(-1, Math.min(1, channel[i]));
      this.piece[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      this.energy += s * s;
      if (this.filled === this.piece.length) {
        const rms = Math.sqrt(this.energy / this.filled);
        this.port.postMessage({pcm: this.piece.buffer.slice(0), rms: rms});
        this.filled = 0;
        this.energy = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
