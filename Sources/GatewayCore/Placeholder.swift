public enum GatewayCorePlaceholder {}
