var x,Ie,ot,N,re,Z,we,Q,Ee,ae,ie,rt,J=Symbol.for("pv"),ee={},te=[],it=/^m(i|n|o|s|text|space)$/,le=Array.isArray,ue=te.slice,W=Object.assign;function O(t){t&&t.parentNode&&t.remove()}function ce(t,e,n){var o,i,s,r={},a=arguments.length;for(s in e)s=="key"?o=e[s]:s=="ref"&&typeof t!="function"?i=e[s]:r[s]=e[s];return a>2&&(r.children=a>3?ue.call(arguments,2):n),B(t,r,o,i,null)}function B(t,e,n,o,i){var s={type:t,props:e,key:n,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:J,__v:i||++Ie,__i:-1,__u:0};return!i&&x.vnode&&x.vnode(s),s}function ne(t){return t.children}function V(t,e){this.props=t,this.context=e,this.__g=0}function U(t,e){if(e==null)return t.__&&U(t.__,t.__i+1);for(var n;e<t.__k.length;e++)if((n=t.__k[e])&&n.__e)return n.__e;return typeof t.type!="function"||t.props.__P?null:U(t)}function at(t){var e,n=t.__v,o=n.__e,i=[],s=[],r=t.__P;r&&((e=W({constructor:J},n)).__v=n.__v+1,x.vnode&&x.vnode(e),_e(r,e,n,t.__n,r.namespaceURI,32&n.__u?[o]:null,i,o||U(n),32&n.__u,s),e.__v=n.__v,e.__.__k[e.__i]=e,Te(i,e,s),n.__=n.__e=null,e.__e!=o&&Ce(e))}function Ce(t){if((t=t.__)&&t.__c&&!t.props.__P)return t.__e=null,t.__k.some(function(e){return e&&(t.__e=e.__e)}),Ce(t)}function ke(t){(8&t.__g||(t.__g|=8,N.push(t),Z++))&&re==x.debounceRendering||((re=x.debounceRendering)||queueMicrotask)(Re)}function Re(){try{for(var t,e=1;N.length;)N.length>e&&N.sort(we),t=N.shift(),e=N.length,8&t.__g&&at(t)}finally{(Z=N.length)&&(re||queueMicrotask)(Re)}}function Pe(t,e,n,o,i,s,r,a,_,d,u){var h,c,l,m,v,g,k=o.__k||te,f=e.length;for(_=lt(n,e,k,_,f),h=0;h<f;h++)(l=n.__k[h])!=null&&(c=~l.__i&&k[l.__i]||ee,l.__i=h,g=_e(t,l,c,i,s,r,a,_,d,u),m=l.__e,(c.ref!=l.ref||8&c.__u)&&(c.ref&&de(c.ref,null,l,c),l.ref&&u.push(l.ref,l.__c||m,l)),v=v||m,4&l.__u?(_=Le(l,_,t,!c.__v),c.__e&&(c.__e=null)):typeof l.type=="function"&&g!==void 0?_=g:m&&(_=m.nextSibling),l.__u&=-21);return n.__e=v,_}function lt(t,e,n,o,i){var s,r,a,_,d,u,h,c,l,m=n.length,v=m,g=0,k=0,f=t.__k=Array(i);for(s=0;s<i;s++)(r=e[s])!=null&&typeof r!="boolean"&&typeof r!="function"?(typeof r!="object"||r.constructor===String?r=f[s]=B(null,r):le(r)?r=f[s]=B(ne,{children:r}):r.constructor===J&&r.__b?r=f[s]=B(r.type,r.props,r.key,r.ref,r.__v):f[s]=r,_=s+g,r.__=t,r.__b=t.__b+1,a=null,~(d=r.__i=ut(r,n,_,v))&&(v--,(a=n[d])&&(a.__u|=2)),a&&a.__v?(r.__u|=16,d==_-1?g--:d==_+1?g++:d!=_&&(d>_?g--:g++,k=1)):(~d||(i>m?g--:i<m&&g++),typeof r.type!="function"&&(r.__u|=4))):f[s]=null;if(k){for(u=[],h=[],s=0;s<i;s++)if((r=f[s])&&16&r.__u){for(g=0,c=u.length;g<c;)u[l=g+c>>1]<r.__i?g=l+1:c=l;u[g]=r.__i,h[s]=g+1}for(g=u.length;s--;)h[s]&&(h[s]==g?g--:f[s].__u|=4)}if(v)for(s=0;s<m;s++)!(a=n[s])||2&a.__u||(a.__e==o&&(o=U(a)),pe(a,a));return o}function Le(t,e,n,o){var i,s,r,a;if(typeof t.type=="function"){if(t.props.__P)return e;if(i=t.__k)for(s=0;s<i.length;s++)i[s]&&(i[s].__=t,e=Le(i[s],e,n,!1));return e}for(e&&!e.parentNode&&(e=U(t))&&!e.parentNode&&(e=null),r=t.__e,a=e;a&&a.nodeType==8;)a=a.nextSibling;for(r!=a&&(!o&&n.moveBefore&&r.parentNode?n.moveBefore(r,e):n.insertBefore(r,e||null)),e=r;(e=e&&e.nextSibling)&&e.nodeType==8&&!e.data.startsWith("$s"););return e}function ut(t,e,n,o){var i,s=t.key,r=t.type,a=e[n],_=a&&!(2&a.__u);if(a===null&&s==null||_&&s==a.key&&r==a.type)return n;if(o>(_?1:0)){for(i=n-1;i>=0;i--)if((a=e[i])&&!(2&a.__u)&&s==a.key&&r==a.type)return i;for(i=n+1;i<e.length;i++)if((a=e[i])&&!(2&a.__u)&&s==a.key&&r==a.type)return i}return-1}function xe(t,e,n){n==null&&(n=""),e[0]=="-"?t.setProperty(e,n):t[e]=n}function Y(t,e,n,o,i){var s,r;if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof o=="string"&&(t.style.cssText=o=""),o)for(e in o)n&&e in n||xe(t.style,e);if(n)for(e in n)o&&n[e]==o[e]||xe(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")typeof n!="function"&&(n=null),typeof o!="function"&&(o=null),(t.__e||(t.__e={}))[e]=n,n&&o||(r=ie[e]||(ie[e]=ct(e)),(t.__a||(t.__a={}))[e]=ae,s=e!=(e=e.replace(Ee,"$1")),(e=e.slice(2))[0]<"a"&&(e=e.toLowerCase()),n?t.addEventListener(e,r,s):t.removeEventListener(e,r,s));else{if(i=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{return void(t[e]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n)}}function ct(t){return function(e){var n=this.__e;if(n){if(n=n[t],e[Q]==null)e[Q]=ae++;else if(e[Q]<this.__a[t])return;return n(x.event?x.event(e):e)}}}function _e(t,e,n,o,i,s,r,a,_,d){var u,h,c,l,m,v,g,k,f,y,$,j,M,P,S,I,L,D,T=e.type;if(e.constructor!==J)return null;128&n.__u&&(_=32&n.__u,u=n.__c.__z)&&(e.__u|=_,h=s=[],u.nodeType==8?a=X(u,s):s.push(u),a=s[0]||a),(u=x.__b)&&u(e);e:if(typeof T=="function"){c=r.length;try{if(k=e.props,f=(u=T.prototype)&&u.render,y=(u=T.contextType)&&o[u.__c],$=u?y?y.props.value:u.__:o,(l=n.__c)?(e.__c=l,2&l.__g&&(l.__g|=1)):(f?e.__c=l=new T(k,$):(e.__c=l=new V(k,$),l.constructor=T,l.render=dt),y&&y.sub(l),l.state||(l.state={}),l.__n=o,l.__g|=8,l.__h=[],l.__k=[]),f&&(l.__s||(l.__s=l.state),T.getDerivedStateFromProps&&(l.__s==l.state&&(l.__s=W({},l.__s)),W(l.__s,T.getDerivedStateFromProps(k,l.__s)))),m=l.props,v=l.state,l.__v=e,n.__c){if(k!==m&&f&&!T.getDerivedStateFromProps&&l.componentWillReceiveProps&&l.componentWillReceiveProps(k,$),e.__v==n.__v&&!(8&l.__g)||!(4&l.__g)&&l.shouldComponentUpdate&&l.shouldComponentUpdate(k,l.__s,$)===!1){e.__v!=n.__v&&(l.props=k,l.state=l.__s,l.__g&=-9),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(R){R&&(R.__=e)}),te.push.apply(l.__h,l.__k),l.__k=[],l.__h.length&&r.push(l),a=U(n);break e}l.componentWillUpdate&&l.componentWillUpdate(k,l.__s,$),f&&l.componentDidUpdate&&l.__h.push(function(){l.componentDidUpdate(m,v,g)})}else f&&!T.getDerivedStateFromProps&&l.componentWillMount&&l.componentWillMount(),f&&l.componentDidMount&&l.__h.push(l.componentDidMount);l.context=$,l.props=k,l.__P=t,l.__g&=-5,j=x.__r,M=f?25:0;do l.__g&=-9,j&&j(e),u=l.render(l.props,l.state=l.__s,l.context);while(8&l.__g&&++M<25);f&&(te.push.apply(l.__h,l.__k),l.__k=[]),l.state=l.__s,l.getChildContext&&(o=W({},o,l.getChildContext())),f&&n.__c&&l.getSnapshotBeforeUpdate&&(g=l.getSnapshotBeforeUpdate(m,v)),P=u&&u.type===ne&&u.key==null?u.props.children:u,k.__P&&(u=a,i=(t=k.__P).namespaceURI,_=s=null,n.props&&n.props.__P!=t&&(n.__k.some(function(R){R&&pe(R,R)}),n.__k=null),a=n.__k?U(n,0):null),a=Pe(t,le(P)?P:[P],e,n,o,i,s,r,a,_,d),k.__P&&(e.__e=null,a=u),e.__u&=-161,h&&h.some(O),l.__h.length&&r.push(l),1&l.__g&&(l.__g&=-4)}catch(R){if(r.length=c,e.__v=null,_||s)if(R&&R.then){if(e.__u|=128|_,s){for(~(L=s.indexOf(a||void 0))||(L=s.length);(D=s[L-1])&&D.nodeType==8;)L--;for(;L<s.length;L++)if(D=s[L])if(s[L]=null,S){if(D==I)break}else{if(D.nodeType!=8)break;D.data.startsWith("$s")&&(I=X(S=D))}}if(!S){for(;a&&a.nodeType==8&&a.nextSibling;)a=a.nextSibling;S=a}(u=X(S=e.__c.__z||(e.__c.__z=S)))?(e.__e=S,a=u):e.__e=a,a=a&&a.nextSibling}else s&&s.some(O);else e.__e=n.__e;e.__k||(e.__k=n.__k||[]),R&&R.then||je(e),x.__e(R,e,n)}}else a=e.__e=_t(n.__e,e,n,o,i,s,r,_,d,t);return(u=x.diffed)&&u(e),a}function X(t,e){if(t&&t.nodeType==8&&t.data.startsWith("$s"))for(var n=1;t=t.nextSibling;){if(t.nodeType==8){if(t.data.startsWith("$s"))n++;else if(t.data.startsWith("/$s")&&!--n)return t}e&&e.push(t)}}function je(t){t&&(t.__c&&(t.__c.__g|=4),t.__k&&t.__k.some(je))}function Te(t,e,n){for(var o=0;o<n.length;)de(n[o++],n[o++],n[o++]);x.__c&&x.__c(e,t),t.some(function(i){try{t=i.__h,i.__h=[],t.some(function(s){s.call(i)})}catch(s){x.__e(s,i.__v)}})}function _t(t,e,n,o,i,s,r,a,_,d){var u,h,c,l,m,v,g,k,f=n.props||ee,y=e.props,$=e.type;if($=="svg"?i="http://www.w3.org/2000/svg":$=="math"?i="http://www.w3.org/1998/Math/MathML":i||(i="http://www.w3.org/1999/xhtml"),s){for(u=0;u<s.length;u++)if((m=s[u])&&($?m.localName==$:m.nodeType==3)){t=m,s[u]=null;break}}if(!t){if(k=d.ownerDocument||document,!$)return k.createTextNode(y);t=k.createElementNS(i,$,y.is?y:d),a&&(x.__m&&x.__m(e,s),a=!1),s=null}if($){if(d=$=="template"&&t.content||t,s=$=="textarea"&&y.defaultValue!=null?null:s&&ue.call(d.childNodes),!a&&s)for(f={},u=0;u<t.attributes.length;u++)f[(m=t.attributes[u]).name]=m.value;for(u in f)m=f[u],u=="dangerouslySetInnerHTML"?c=m:u=="children"||u in y||u=="value"&&"defaultValue"in y||u=="checked"&&"defaultChecked"in y||Y(t,u,null,m,i);for(u in y)m=y[u],u=="children"?l=m:u=="dangerouslySetInnerHTML"?h=m:u=="value"?v=m:u=="checked"?g=m:a&&typeof m!="function"||f[u]===m||Y(t,u,m,f[u],i);h?(a||c&&(h.__html==c.__html||h.__html==t.innerHTML)||(t.innerHTML=h.__html),e.__k=[]):(c&&(t.textContent=""),($=="foreignObject"||i=="http://www.w3.org/1998/Math/MathML"&&it.test($))&&(i="http://www.w3.org/1999/xhtml"),Pe(d,le(l)?l:[l],e,n,o,i,s,r,s?s[0]:n.__k&&U(n,0),a,_),s&&s.some(O)),a&&$!="textarea"||(u="value",$=="progress"&&v==null?t.removeAttribute(u):v==null||v===t[u]&&($!="progress"||v)||Y(t,u,v,f[u],i),u="checked",g!=null&&g!=t[u]&&Y(t,u,g,f[u],i))}else f===y||a&&t.data==y||(t.data=y);return t}function de(t,e,n,o){try{typeof t=="function"?e?e.__x=t(e)||1:o&&(o=o.__c||o.__e)&&(e=o.__x)&&(o.__x=null,typeof e=="function"?e():t(null)):t.current=e}catch(i){x.__e(i,n)}}function pe(t,e,n){var o,i,s,r;if(x.unmount&&x.unmount(t),!(o=t.ref)||o.current&&o.current!=t.__e||de(o,null,e,t),o=t.__c){if(o.componentWillUnmount)try{o.componentWillUnmount()}catch(a){x.__e(a,e)}o.__P=o.__n=null}if(o=t.__k)for(r=0;r<o.length;r++)o[r]&&pe(o[r],e,typeof t.type!="function"||n&&!t.props.__P);!n&&(o=t.__c)&&(o=o.__z)&&(i=X(o,s=[]))&&(o==t.__e&&s.some(O),O(i),O(o)),n||O(t.__e),t.__e=t.__c=t.__=null}function dt(t,e,n){return this.constructor(t,n)}function fe(t,e){var n,o,i,s;x.__&&x.__(t,e),e.nodeType==9&&(e=e.documentElement),o=(n=t&&32&t.__u)?null:e.__k,e.__k=B(ne,{children:[t]}),i=[],s=[],_e(e,e.__k,o||ee,ee,e.namespaceURI,o?null:e.firstChild?ue.call(e.childNodes):null,i,o?o.__e:e.firstChild,n,s),Te(i,e.__k,s),e.__k.props.children=null}x={__e:function(t,e,n,o){for(var i,s,r;e=e.__;)if((i=e.__c)&&!(1&i.__g)){i.__g|=4;try{if((r=(s=i.constructor)&&s.getDerivedStateFromError)&&i.setState(s.getDerivedStateFromError(t)),i.componentDidCatch&&(i.componentDidCatch(t,o||{}),r=1),r&&8&i.__g)return void(i.__g|=2)}catch(a){t=a}}throw Z=0,t}},Ie=0,ot=function(t){return t!=null&&t.constructor===J},V.prototype.setState=function(t,e){var n=this.__s;n&&n!=this.state||(n=this.__s=W({},this.state)),typeof t=="function"&&(t=t(W({},n),this.props)),t&&(W(n,t),this.__v&&(e&&this.__k.push(e),ke(this)))},V.prototype.forceUpdate=function(t){this.__v&&(this.__g|=4,t&&this.__h.push(t),ke(this))},V.prototype.render=ne,N=[],Z=0,we=function(t,e){return t.__v.__b-e.__v.__b},Q=Symbol(),Ee=/(PointerCapture)$|Capture$/i,ae=0,ie={},rt=0;var K,C,me,Ae,ge=Object.is,se=0,qe=[],he=[],w=x,He=w.__b,Me=w.__r,Ne=w.diffed,Ue=w.__c,Fe=w.unmount,De=w.__;function $e(t,e){w.__h&&w.__h(C,t,se||e),se=0;var n=C.__H||(C.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function b(t){return se=1,pt(Je,t)}function pt(t,e,n){var o=$e(K++,2);if(o.t=t,!o.__c&&(o.__=[n?n(e):Je(void 0,e),function(s){var r=(o.__N||o.__)[0],a=o.t(r,s);ge(r,a)||(o.__N=[a,o.__[1]],o.__c.setState({}))}],o.__c=C,!C.__f)){C.__f=!0;var i=C.shouldComponentUpdate;C.shouldComponentUpdate=function(s,r,a){var _=this.__H;if(!_)return!0;var d=!1,u=this.props!=s;if(_.__.some(function(c){c.__N&&(d=!0,ge(c.__[0],c.__N[0])||(u=!0))}),i){var h=i.call(this,s,r,a);return d?h||u:h}return!d||u}}return o.__}function A(t,e){var n=$e(K++,3);!w.__s&&Ve(n.__H,e)&&(n.__P=!0,n.__=t,n.u=e,C.__H.__h.push(n))}function Be(t){return se=5,ye(function(){return{current:t}},[])}function ye(t,e){var n=$e(K++,7);return Ve(n.__H,e)&&(n.__=t(),n.__H=e),n.__}function ft(){var t;do{for(;t=he.shift();)try{z(t)}catch(n){w.__e(n,{__:(t=t.__P)&&t.__v})}for(;t=qe.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some(z),e.__h.some(ve),e.__h=[]}catch(n){e.__h=[],w.__e(n,t.__v)}}}while(he.length)}w.__b=function(t){C=null,He&&He(t)},w.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),De&&De(t,e)},w.__r=function(t){Me&&Me(t),K=0;var e=(C=t.__c).__H;e&&(me==C?C.__h=[]:(e.__h.some(z),e.__h.some(ve),K=0),e.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),me=C},w.diffed=function(t){Ne&&Ne(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&We(qe.push(e)),e.__H.__.some(function(n){n.u&&(n.__H=n.u)})),me=C=null},w.__c=function(t,e){e.some(function(n){try{n.__h.some(z),n.__h=n.__h.filter(function(o){return!o.__||ve(o)})}catch(o){n.__h=[function(){throw o}]}}),Ue&&Ue(t,e)},w.unmount=function(t){Fe&&Fe(t);var e,n,o=t.__c;o&&o.__H&&(o.__H.__.some(function(i){try{if(i.__P&&i.__c){if(n===void 0){for(n=t.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}i.__P=n,We(he.push(i))}else z(i)}catch(s){e=s}}),o.__H=void 0,e&&w.__e(e,o.__v))};var Oe=typeof requestAnimationFrame=="function";function mt(t){var e,n=function(){clearTimeout(o),Oe&&cancelAnimationFrame(e),setTimeout(t)},o=setTimeout(n,35);Oe&&(e=requestAnimationFrame(n))}function We(t){t!=1&&Ae==w.requestAnimationFrame||((Ae=w.requestAnimationFrame)||mt)(ft)}function z(t){var e=C,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),C=e}function ve(t){var e=C;t.__c=t.__(),C=e}function Ve(t,e){return!t||t.length!=e.length||e.some(function(n,o){return!ge(n,t[o])})}function Je(t,e){return typeof e=="function"?e(t):e}var Ke=function(t,e,n,o){var i;e[0]=0;for(var s=1;s<e.length;s++){var r=e[s++],a=e[s]?(e[0]|=r?1:2,n[e[s++]]):e[++s];r===3?o[0]=a:r===4?o[1]=Object.assign(o[1]||{},a):r===5?(o[1]=o[1]||{})[e[++s]]=a:r===6?o[1][e[++s]]+=a+"":r?(i=t.apply(a,Ke(t,a,n,["",null])),o.push(i),a[0]?e[0]|=2:(e[s-2]=0,e[s]=i)):o.push(a)}return o},ze=new Map;function Ge(t){var e=ze.get(this);return e||(e=new Map,ze.set(this,e)),(e=Ke(this,e.get(t)||(e.set(t,e=(function(n){for(var o,i,s=1,r="",a="",_=[0],d=function(c){s===1&&(c||(r=r.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?_.push(0,c,r):s===3&&(c||r)?(_.push(3,c,r),s=2):s===2&&r==="..."&&c?_.push(4,c,0):s===2&&r&&!c?_.push(5,0,!0,r):s>=5&&((r||!c&&s===5)&&(_.push(s,0,r,i),s=6),c&&(_.push(s,c,0,i),s=6)),r=""},u=0;u<n.length;u++){u&&(s===1&&d(),d(u));for(var h=0;h<n[u].length;h++)o=n[u][h],s===1?o==="<"?(d(),_=[_],s=3):r+=o:s===4?r==="--"&&o===">"?(s=1,r=""):r=o+r[0]:a?o===a?a="":r+=o:o==='"'||o==="'"?a=o:o===">"?(d(),s=1):s&&(o==="="?(s=5,i=r,r=""):o==="/"&&(s<5||n[u][h+1]===">")?(d(),s===3&&(_=_[0]),s=_,(_=_[0]).push(2,0,s),s=0):o===" "||o==="	"||o===`
`||o==="\r"?(d(),s=2):r+=o),s===3&&r==="!--"&&(s=4,_=_[0])}return d(),_})(t)),e),arguments,[])).length>1?e:e[0]}var p=Ge.bind(ce);var be="joinery.apiKey",q={key:()=>sessionStorage.getItem(be),signIn:t=>{sessionStorage.setItem(be,t)},signOut:()=>{sessionStorage.removeItem(be)}},G=class extends Error{status;code;constructor(e,n,o){super(o),this.status=e,this.code=n}};async function H(t,e={}){let n=await fetch(t,{method:e.method??"GET",headers:{authorization:`Bearer ${q.key()??""}`}}),o=await n.json().catch(()=>({}));if(!n.ok){let i=o.error;throw new G(n.status,i?.code??"JNY_UNKNOWN",i?.message??n.statusText)}return o}async function Ye(t,e){let{token:n}=await H("/v1/streams/tokens",{method:"POST"}),o=new URL(t,location.href);return o.protocol=location.protocol==="https:"?"wss:":"ws:",o.searchParams.set("token",n),e!==void 0&&o.searchParams.set("lastEventId",e),o.toString()}function oe(t,e){let n,o,i=!1,s=()=>i,r=[],a=!1,_=0,d=()=>{a=!1;let c=r;r=[],c.length>0&&!i&&e.frames(c)},u=async()=>{if(!i){try{let c=await Ye(t,o);if(s())return;n=new WebSocket(c)}catch(c){if(s())return;e.status(`cannot open the live stream: ${c.message}`),h();return}n.onopen=()=>{_=0,i||e.status("live")},n.onmessage=c=>{if(i)return;let l=JSON.parse(c.data);l.type==="event"&&(o=l.id),r.push(l),a||(a=!0,requestAnimationFrame(d))},n.onclose=c=>{if(!i){if(c.code>=4e3&&c.code!==4429){e.status(`the live stream was refused: ${c.reason} (${String(c.code)})`);return}e.status("reconnecting\u2026"),h()}}}},h=()=>{i||(_++,setTimeout(()=>{u()},Math.min(1e4,500*2**_)))};return u(),{close(){i=!0,r=[],n?.close(1e3,"page left")}}}function Qe(t,e){let n=t.at(-1);if(n===void 0)return{rate:null,etaSeconds:null};let o=t.find(a=>n.at-a.at<=1e4)??n,i=(n.at-o.at)/1e3,s=i>0?(n.seen-o.seen)/i:null,r=s!==null&&s>0&&e!==null?Math.max(0,(e-n.seen)/s):null;return{rate:s,etaSeconds:r}}var F=200;function Xe(t){if(t==="#/people")return{page:"people"};if(t==="#/live")return{page:"live"};let e=/^#\/runs\/([0-9a-f-]{36})$/.exec(t);if(e?.[1]!==void 0)return{page:"run",id:e[1]};let n=/^#\/identities\/([0-9a-f-]{36})$/.exec(t);if(n?.[1]!==void 0)return{page:"identity",id:n[1]};let o=/^#\/objects\/([0-9a-f-]{36})\/(.+)$/.exec(t);if(o?.[1]!==void 0&&o[2]!==void 0)try{return{page:"object",applicationId:o[1],externalId:decodeURIComponent(o[2])}}catch{return{page:"runs"}}return{page:"runs"}}function gt(){let[t,e]=b(Xe(location.hash));return A(()=>{let n=()=>{e(Xe(location.hash))};return addEventListener("hashchange",n),()=>{removeEventListener("hashchange",n)}},[]),t}var ht=new Intl.NumberFormat,E=t=>t==null?"\u2013":ht.format(t),vt=t=>t===null?"\u2013":t<90?`${String(Math.round(t))} s`:`${String(Math.round(t/60))} min`;function $t(t){let[e,n]=b(""),[o,i]=b(null);return p`<form class="sign-in" onSubmit=${async r=>{r.preventDefault(),q.signIn(e.trim());try{await H("/v1/tenant"),t.onSignedIn()}catch(a){q.signOut(),i(a instanceof G?a.message:String(a))}}}>
    <h1>Joinery</h1>
    <label for="api-key">API key</label>
    <input
      id="api-key"
      type="password"
      autocomplete="off"
      value=${e}
      onInput=${r=>{n(r.target.value)}}
    />
    <p class="hint">Kept in this tab only (sessionStorage); used to call the API and open live streams.</p>
    <button type="submit">Sign in</button>
    ${o===null?null:p`<p class="error" role="alert">${o}</p>`}
  </form>`}function yt(){let[t,e]=b(null),[n,o]=b(null);return A(()=>{let i=!0,s=async()=>{try{let a=await H("/v1/runs?limit=50");i&&e(a.items)}catch(a){i&&o(a.message)}};s();let r=setInterval(()=>{s()},2e3);return()=>{i=!1,clearInterval(r)}},[]),n!==null?p`<p class="error">${n}</p>`:t===null?p`<p>Loading sync runs…</p>`:p`<section>
    <h2>Sync runs</h2>
    <table class="runs">
      <thead>
        <tr>
          <th>Started</th>
          <th>Application</th>
          <th>Kind</th>
          <th>Status</th>
          <th>Seen</th>
          <th>Rejected</th>
        </tr>
      </thead>
      <tbody>
        ${t.map(i=>p`<tr key=${i.id}>
              <td>
                <a href=${`#/runs/${i.id}`} data-run=${i.id}
                  >${new Date(i.startedAt).toLocaleString()}</a
                >
              </td>
              <td class="id">${i.applicationId.slice(0,8)}</td>
              <td>${i.kind??""}</td>
              <td><span class=${`status ${i.status}`}>${i.status}</span></td>
              <td class="n">${E(i.seen)}</td>
              <td class="n">${E(i.rejected)}</td>
            </tr>`)}
      </tbody>
    </table>
  </section>`}function bt(t){let[e,n]=b({progress:null,events:[],errors:[],received:0,dropped:0,notices:[]}),[o,i]=b("connecting\u2026"),[s,r]=b([]),a=Be([]);A(()=>{a.current=[];let v=oe(`/v1/streams?run=${t.id}`,{status:i,frames:g=>{n(k=>{let{progress:f,events:y,errors:$,received:j,dropped:M,notices:P}=k,S=[];for(let I of g)I.type==="snapshot"||I.type==="progress"?(f=I.run,a.current.push({at:Date.parse(I.run.at),seen:I.run.stages.import.seen}),a.current.length>100&&a.current.splice(0,50)):I.type==="event"?(j++,S.push({id:I.id,event:I.event})):I.type==="dropped"?M+=I.count:I.type==="missed"&&(P=[...P,I.message].slice(-5));if(S.length>0){y=[...S.slice(-F).reverse(),...y].slice(0,F);let I=S.filter(({event:L})=>L.level==="error"||L.outcome==="failed");I.length>0&&($=[...I.reverse(),...$].slice(0,F))}return{progress:f,events:y,errors:$,received:j,dropped:M,notices:P}})}});return()=>{v.close()}},[t.id]);let _=e.progress?.stages.import.rejected??0;A(()=>{_!==0&&H(`/v1/runs/${t.id}/errors?limit=100`).then(v=>{r(v.items)})},[t.id,_]);let d=e.progress,u=d?.stages.import,{rate:h,etaSeconds:c}=ye(()=>Qe(a.current,u?.total??null),[d]),l=d!==null&&["completed","aborted","failed","incomplete","discarded"].includes(d.status),m=u?.total?Math.min(100,100*u.seen/u.total):null;return p`<section>
    <h2>Sync run <span class="id">${t.id}</span></h2>
    <p class="stream-status" data-stream-status=${o}>Stream: ${o}</p>
    ${d===null?p`<p>Waiting for the run's counters…</p>`:p`<div class="run-summary">
            <p>
              Status:${" "}
              <strong data-run-status=${d.status} class=${`status ${d.status}`}
                >${d.status}</strong
              >
              ${d.reason===null?null:p` — ${d.reason}`}
            </p>
            <table class="stages">
              <thead>
                <tr>
                  <th>Stage</th>
                  <th>Done</th>
                  <th>Of</th>
                  <th>Rate</th>
                  <th>ETA</th>
                  <th>Other</th>
                </tr>
              </thead>
              <tbody>
                <tr data-stage="import">
                  <td>Import</td>
                  <td class="n" data-count="seen">${E(u?.seen)}</td>
                  <td class="n" data-count="total">${E(u?.total)}</td>
                  <td class="n">${l||h===null?"\u2013":`${E(Math.round(h))}/s`}</td>
                  <td class="n">${l?"\u2013":vt(c)}</td>
                  <td>
                    rejected <span data-count="rejected">${E(u?.rejected)}</span>, deleted
                    ${E(u?.deletions)}
                  </td>
                </tr>
                <tr data-stage="join">
                  <td>Join</td>
                  <td class="n" data-count="joined">${E(d.stages.join?.joined)}</td>
                  <td class="n">${E(u?.seen)}</td>
                  <td></td>
                  <td></td>
                  <td>
                    conflicts ${E(d.stages.join?.conflicts)}, unjoined
                    ${E(d.stages.join?.unjoined)}
                  </td>
                </tr>
                <tr data-stage="export">
                  <td>Export</td>
                  <td class="n" data-count="delivered">${E(d.stages.export?.delivered)}</td>
                  <td class="n"></td>
                  <td></td>
                  <td></td>
                  <td>
                    queued <span data-count="queued">${E(d.stages.export?.queued)}</span>, held
                    <span data-count="held">${E(d.stages.export?.held)}</span>, failed
                    <span data-count="failed">${E(d.stages.export?.failed)}</span>, sandbox
                    ${E(d.stages.export?.sandbox)}
                  </td>
                </tr>
              </tbody>
            </table>
            <progress max="100" value=${m??0} aria-label="import progress"></progress>
          </div>`}
    ${e.notices.map(v=>p`<p class="notice">${v}</p>`)}
    ${e.dropped>0?p`<p class="notice">${E(e.dropped)} events were not shown: this page read too slowly. The counters above are exact.</p>`:null}
    <h3>Errors</h3>
    <ul class="errors">
      ${s.map(v=>p`<li key=${`line-${String(v.line)}`} data-error="rejected-row">line ${v.line}: ${v.reason}</li>`)}
      ${e.errors.map(({id:v,event:g})=>p`<li key=${v} data-error="event">
            ${Ze(g)} ${g.errorCode??""} ${g.reason??g.message}
          </li>`)}
    </ul>
    <h3>Events <small>(${E(e.received)} received; latest ${F} shown)</small></h3>
    <ol class="events">
      ${e.events.map(({id:v,event:g})=>p`<li key=${v}>
            <time>${new Date(g.at).toLocaleTimeString()}</time>
            ${g.stage??g.category}
            ${g.outcome??""} ${Ze(g)} ${g.message}
          </li>`)}
    </ol>
  </section>`}function Ze(t){return t.identityId!==void 0?p`<a href=${`#/identities/${t.identityId}`}
      >${t.externalId??t.identityId.slice(0,8)}</a
    >`:t.externalId===void 0?null:t.applicationId===void 0?p`<code>${t.externalId}</code>`:p`<a href=${st(t.applicationId,t.externalId)}><code>${t.externalId}</code></a>`}var et=t=>t===void 0?"\u2205":JSON.stringify(t);function Se(t){let{item:e}=t;return p`<li data-history-event=${e.id}>
    <time datetime=${e.at}>${new Date(e.at).toLocaleString()}</time>${" "}
    <span class="stage">${e.stage??e.category}</span>${" "}
    ${e.outcome===void 0?null:p`<span class=${`outcome ${e.outcome}`}>${e.outcome}</span>`}
    ${" "}${e.message}
    ${e.decidedBy===void 0?null:p` <span class="decided-by" data-decided-by>— ${e.decidedBy.kind} ${e.decidedBy.name}</span>`}
    ${e.actor===void 0?null:p` <span class="actor">by ${e.actor.kind} ${e.actor.name??e.actor.id??""}</span>`}
    ${e.applicationId===void 0||e.externalId===void 0?null:p` <a href=${st(e.applicationId,e.externalId)}><code>${e.externalId}</code></a>`}
    ${e.errorCode===void 0&&e.reason===void 0?null:p`<div class="reason">${e.errorCode??""} ${e.reason??""}</div>`}
    ${e.changes===void 0||e.changes.length===0?null:p`<table class="changes">
            <tbody>
              ${e.changes.map(n=>p`<tr data-change=${n.attribute}>
                    <th>${n.attribute}</th>
                    <td class="old">${et(n.old)}</td>
                    <td>→</td>
                    <td class="new">${et(n.new)}</td>
                  </tr>`)}
            </tbody>
          </table>`}
  </li>`}function nt(t){let[e,n]=b([]),[o,i]=b(null),[s,r]=b(!0),[a,_]=b(null),[d,u]=b(null),h=async c=>{r(!0);try{let l=t.path.includes("?")?"&":"?",m=await H(`${t.path}${l}limit=50${c===null?"":`&after=${encodeURIComponent(c)}`}`);n(v=>c===null?m.items:[...v,...m.items]),i(m.nextCursor),u(m.notice??null),_(null)}catch(l){_(l.message)}finally{r(!1)}};return A(()=>{h(null)},[t.path]),p`<div class="history" data-history=${s?"loading":"loaded"}>
    <p>
      <button class="link" onClick=${()=>{h(null)}}>Refresh</button>
    </p>
    ${a===null?null:p`<p class="error">${a}</p>`}
    ${d===null?null:p`<p class="hint" data-audit-notice>${d}</p>`}
    ${!s&&e.length===0&&a===null?p`<p class="hint">No events recorded yet.</p>`:null}
    <ol class="events">
      ${e.map(c=>p`<${Se} key=${c.id} item=${c} />`)}
    </ol>
    ${o===null?null:p`<button data-older disabled=${s} onClick=${()=>{h(o)}}>Older events</button>`}
  </div>`}function st(t,e){return`#/objects/${t}/${encodeURIComponent(e)}`}function St(t){let[e,n]=b(null),[o,i]=b([]);return A(()=>{H(`/v1/identities/${t.id}`).then(n).catch(()=>{n({})});let s=oe(`/v1/streams?identity=${t.id}`,{status:()=>{},frames:r=>{let a=r.flatMap(_=>_.type==="event"?[{id:_.id,event:_.event}]:[]);a.length>0&&i(_=>[...a.reverse(),..._].slice(0,F))}});return()=>{s.close()}},[t.id]),p`<section>
    <h2>Identity <span class="id">${t.id}</span></h2>
    <pre class="record">${e===null?"Loading\u2026":JSON.stringify(e,null,2)}</pre>
    <h3>History</h3>
    <${nt} key=${t.id} path=${`/v1/identities/${t.id}/history`} />
    <h3>Live <small>(events as they happen)</small></h3>
    <ol class="events live">
      ${o.map(({id:s,event:r})=>p`<${Se} key=${s} item=${{...r,id:s}} />`)}
    </ol>
  </section>`}function kt(t){let e=new URLSearchParams({applicationId:t.applicationId,externalId:t.externalId});return p`<section>
    <h2>
      Object <code>${t.externalId}</code> <span class="id">application ${t.applicationId}</span>
    </h2>
    <h3>History</h3>
    <${nt} key=${e.toString()} path=${`/v1/audit?${e.toString()}`} />
  </section>`}var xt=["displayName","givenName","sn","surname","mail","email","employeeId"];function It(){let[t,e]=b("employeeId"),[n,o]=b(""),[i,s]=b(!0),[r,a]=b(null),[_,d]=b(null),u=async c=>{c.preventDefault();let l=new URLSearchParams({attribute:t.trim(),value:n,ignoreCase:String(i),limit:"50"});try{let m=await H(`/v1/identities?${l.toString()}`);a(m.items),d(null)}catch(m){a(null),d(m.message)}},h=c=>l=>{c(l.target.value)};return p`<section>
    <h2>People</h2>
    <form class="filters" onSubmit=${u}>
      <label>Attribute <input name="attribute" value=${t} onInput=${h(e)} /></label>
      <label>Value <input name="value" value=${n} onInput=${h(o)} required /></label>
      <label
        ><input
          type="checkbox"
          name="ignoreCase"
          checked=${i}
          onChange=${c=>{s(c.target.checked)}}
        />
        any case</label
      >
      <button type="submit">Find</button>
    </form>
    ${_===null?null:p`<p class="error" role="alert">${_}</p>`}
    ${r!==null&&r.length===0?p`<p class="hint" data-people="none">Nobody has ${t} = ${n}.</p>`:null}
    ${r===null||r.length===0?null:p`<table class="runs" data-people="found">
            <thead>
              <tr>
                <th>Identity</th>
                <th>State</th>
                <th>Attributes</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              ${r.map(c=>p`<tr key=${c.id}>
                    <td>
                      <a href=${`#/identities/${c.id}`} data-identity=${c.id}
                        >${c.id.slice(0,8)}</a
                      >
                    </td>
                    <td><span class=${`status ${c.state}`}>${c.state}</span></td>
                    <td>
                      ${xt.filter(l=>c.attributes[l]!==void 0).map(l=>`${l}: ${String(c.attributes[l])}`).join(", ")}
                    </td>
                    <td>${new Date(c.updatedAt).toLocaleString()}</td>
                  </tr>`)}
            </tbody>
          </table>`}
  </section>`}var wt={import:"Import",join:"Join",inbound:"Inbound",outbound:"Outbound",export:"Export",pulse:"Pulse",schedule:"Schedule",agent:"Agent",connector:"Connector",admin:"Admin"},Et={succeeded:"Succeeded",failed:"Failed",held:"Held",skipped:"Skipped",conflict:"Conflict"};function Ct(){let[t,e]=b([]),[n,o]=b({application:"",stage:"",outcome:""}),[i,s]=b([]),[r,a]=b(0),[_,d]=b(0),[u,h]=b([]),[c,l]=b("connecting\u2026"),[m,v]=b("");A(()=>{H("/v1/applications").then(f=>{e(f.items)}).catch(()=>{})},[]),A(()=>{s([]),a(0),d(0),h([]),l("connecting\u2026"),v(n.stage);let f=new URLSearchParams(Object.entries(n).filter($=>$[1]!=="")),y=oe(`/v1/streams?${f.toString()}`,{status:l,frames:$=>{let j=$.flatMap(S=>S.type==="event"?[{id:S.id,event:S.event}]:[]),M=$.reduce((S,I)=>S+(I.type==="dropped"?I.count:0),0);M>0&&d(S=>S+M);let P=$.flatMap(S=>S.type==="missed"?[S.message]:[]);P.length>0&&h(S=>[...S,...P].slice(-5)),j.length!==0&&(a(S=>S+j.length),s(S=>[...j.slice(-F).reverse(),...S].slice(0,F)))}});return()=>{y.close()}},[n.application,n.stage,n.outcome]);let g=f=>y=>{o({...n,[f]:y.target.value})},k=f=>Object.entries(f).map(([y,$])=>p`<option value=${y}>${$}</option>`);return p`<section>
    <h2>Live events</h2>
    <form
      class="filters"
      onSubmit=${f=>{f.preventDefault()}}
    >
      <label
        >Application
        <select name="application" value=${n.application} onChange=${g("application")}>
          <option value="">All</option>
          ${t.map(f=>p`<option value=${f.id}>${f.name}</option>`)}
        </select></label
      >
      <label
        >Stage
        <select name="stage" value=${n.stage} onChange=${g("stage")}>
          <option value="">All</option>
          ${k(wt)}
        </select></label
      >
      <label
        >Outcome
        <select name="outcome" value=${n.outcome} onChange=${g("outcome")}>
          <option value="">All</option>
          ${k(Et)}
        </select></label
      >
    </form>
    <p class="stream-status" data-stream-status=${c} data-stream-stage=${m}>
      Stream: ${c}
    </p>
    ${_>0?p`<p class="notice">${E(_)} events were not shown: this page read too slowly.</p>`:null}
    ${u.map(f=>p`<p class="notice" data-missed>${f}</p>`)}
    <h3>Events <small>(${E(r)} received; latest ${F} shown)</small></h3>
    <ol class="events live" data-live-events>
      ${i.map(({id:f,event:y})=>p`<${Se} key=${f} item=${{...y,id:f}} />`)}
    </ol>
  </section>`}var Rt={runs:()=>p`<${yt} />`,people:()=>p`<${It} />`,live:()=>p`<${Ct} />`,run:t=>t.page==="run"?p`<${bt} id=${t.id} />`:null,identity:t=>t.page==="identity"?p`<${St} id=${t.id} />`:null,object:t=>t.page==="object"?p`<${kt} applicationId=${t.applicationId} externalId=${t.externalId} />`:null};function Pt(){let[t,e]=b(q.key()!==null),n=gt();return t?p`<div class="shell">
    <nav>
      <strong>Joinery</strong>
      <a href="#/runs" class=${n.page==="runs"?"active":""}>Sync runs</a>
      <a href="#/live" class=${n.page==="live"?"active":""}>Live</a>
      <a href="#/people" class=${n.page==="people"?"active":""}>People</a>
      <button
        class="link"
        onClick=${()=>{q.signOut(),e(!1)}}
      >
        Sign out
      </button>
    </nav>
    <main>${Rt[n.page](n)}</main>
  </div>`:p`<${$t}
      onSignedIn=${()=>{e(!0)}}
    />`}var tt=document.getElementById("app");tt!==null&&fe(p`<${Pt} />`,tt);
